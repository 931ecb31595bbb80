// When a replica's failed evidence says something about its host: on a node-cvm host the replica's
// sidecar runs inside the host's confidential VM and reports the same CPU and GPUs, so a failure on the
// state those share — GPU confidential computing off, debug mode, a TCB or firmware the policy refuses, a
// measurement or image not allowed, a revoked certificate, a GPU measurement off its reference — is what
// the host's own evidence would show at its next re-check. The service records it on the host's status
// (status.attestation.replicaFailure), and the ProviderNode controller re-checks the host now instead of
// up to one re-attestation interval later, so a host whose hardware changed is quarantined, with all its
// replicas, within seconds of the first replica that noticed.
//
// Only a fresh, genuine look at this host counts, so that a replica cannot bring its host's re-check
// forward on purpose with evidence of its own choosing. Recorded: a verdict whose every reason is about
// that shared state, in evidence that names the host's own chip, VM (node-cvm: the same launch
// measurement and image) and GPUs (each by a device identity among the host's verified GPUs). Not
// recorded: a failure with anything beside it — a nonce, binding or age failure (an old report replayed,
// even a genuine one from when the GPUs really were out of CC mode), a signature or chain failure,
// evidence that does not parse, collateral or policy problems (the operator's side), a host that is not
// attested (already known); evidence naming another chip, VM or GPU than the host's (a misplaced or lying
// replica: its own gate is refused, the host's evidence is unaffected). A pod-cvm replica has a VM of its
// own, whose state is not the host's.
import type { ProviderNodeStatusAttestation } from '../../api/providernode.js';
import type { ReasonCode } from '../reasons.js';
import { replicaHostMismatch, type Topology } from './replica-topology.js';
import type { VerifyOutcome } from './service.js';

/** Reason codes that describe the confidential VM's and GPUs' state, which a node-cvm host shares with its replicas. */
export const HOST_STATE_CODES: ReadonlySet<string> = new Set<ReasonCode>([
  'GPU_CC_DISABLED', 'DEBUG_ENABLED', 'GUEST_POLICY_FORBIDDEN', 'TCB_TOO_LOW', 'TCB_STATUS_UNACCEPTABLE',
  'MEASUREMENT_NOT_ALLOWED', 'HOST_DATA_NOT_ALLOWED', 'VERSION_NOT_ALLOWED', 'REFERENCE_MISMATCH', 'CERT_REVOKED',
]);

/**
 * The reason to record on the host for a failed replica verdict (its first), or undefined when the verdict
 * says nothing trustworthy about the host: `host` is the host's verified evidence as recorded.
 */
export function hostStateFailure(outcome: VerifyOutcome, topology: Topology, host: ProviderNodeStatusAttestation | undefined, nodeName: string): VerifyOutcome['reasons'][number] | undefined {
  if (topology !== 'node-cvm' || outcome.verified || outcome.reasons.length === 0) return undefined;
  if (!outcome.reasons.every((r) => HOST_STATE_CODES.has(r.code))) return undefined;
  if (replicaHostMismatch(topology, host, outcome.claims, nodeName).length > 0) return undefined;
  const hostGpus = new Set((host?.gpus ?? []).map((g) => g.deviceId).filter((id): id is string => !!id));
  if (!outcome.claims.gpus.every((g) => g.deviceId !== undefined && hostGpus.has(g.deviceId))) return undefined;
  return outcome.reasons[0];
}
