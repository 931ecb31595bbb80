// When a replica's failed evidence says something about its host: on a node-cvm host the replica's
// sidecar runs inside the host's confidential VM and reports the same CPU and GPUs, so a failure on the
// state those share — GPU confidential computing off, debug mode, a TCB or firmware the policy refuses, a
// measurement or image not allowed, a revoked certificate, a GPU measurement off its reference — is what
// the host's own evidence would show at its next re-check. The service records it on the host's status
// (status.attestation.replicaFailure), and the ProviderNode controller re-checks the host now instead of
// up to one re-attestation interval later, so a host whose hardware changed is quarantined, with all its
// replicas, within seconds of the first replica that noticed.
//
// Not host state, so not recorded: a nonce, binding or age failure (the replica's own answer), evidence
// that does not parse, collateral or policy problems (the operator's side), a host that is not attested
// (already known), and evidence naming another chip or GPU set than the host's (a misplaced or lying
// replica: its own gate is refused, the host's evidence is unaffected). A pod-cvm replica has a VM of its
// own, whose state is not the host's.
import type { ReasonCode } from '../reasons.js';
import type { Topology } from './replica-topology.js';

/** Reason codes that describe the confidential VM's and GPUs' state, which a node-cvm host shares with its replicas. */
export const HOST_STATE_CODES: ReadonlySet<string> = new Set<ReasonCode>([
  'GPU_CC_DISABLED', 'DEBUG_ENABLED', 'GUEST_POLICY_FORBIDDEN', 'TCB_TOO_LOW', 'TCB_STATUS_UNACCEPTABLE',
  'MEASUREMENT_NOT_ALLOWED', 'HOST_DATA_NOT_ALLOWED', 'VERSION_NOT_ALLOWED', 'REFERENCE_MISMATCH', 'CERT_REVOKED',
]);

/** The first reason of a failed replica verdict that is about its host's state, or undefined. */
export function hostStateFailure<R extends { code: string }>(reasons: readonly R[], topology: Topology): R | undefined {
  if (topology !== 'node-cvm') return undefined;
  return reasons.find((r) => HOST_STATE_CODES.has(r.code));
}
