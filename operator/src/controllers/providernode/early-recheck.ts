// Re-checks of a node ahead of its schedule, and when they are wanted. Two things bring one forward:
//  - A person asks (the annotation chrysalis.dev/reattest-requested-at; `chrysalis reattest` sets it to the
//    current time, `kubectl annotate --overwrite` works too). The value is opaque: each value the
//    controller has not answered yet gets one fresh challenge, and the controller records the value it
//    answered in status.attestation.reattestRequest, so a request is answered once however often the node
//    is planned. The challenge that answers it stays until its evidence is judged.
//  - A replica on the host failed on state it shares with the host (status.attestation.replicaFailure,
//    written by the attestation service: attestation/service/host-suspect.ts) since the host was last
//    verified. Both times are the service's, so no clock is compared with another.
// Nothing here weakens a check: a re-check only brings a challenge forward, and the node keeps the verdict
// its last evidence earned until the new evidence is judged.
import { createHash } from 'node:crypto';
import type { ProviderNode, ProviderNodeStatusAttestationReplicaFailure } from '../../api/providernode.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../marks.js';

/** The longest value recorded as it is (the status field's maxLength); longer ones are recorded as their SHA-256. */
export const MAX_RECORDED_REQUEST_LENGTH = 128;

/** The request as status.attestation.reattestRequest records it once answered; undefined when none is set. */
export function reattestRequestOf(pn: ProviderNode): string | undefined {
  const value = pn.metadata.annotations?.[ANNOTATION_REATTEST_REQUEST];
  if (value === undefined || value === '') return undefined;
  return value.length <= MAX_RECORDED_REQUEST_LENGTH ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

export interface EarlyRecheck {
  /** A request no challenge has answered yet, as it is recorded once answered. */
  pendingRequest?: string;
  /** The pending challenge was issued after the last verification while a request was recorded: it answers that request. */
  answeringRequest: boolean;
  /** The replica failure that makes the (attested) host suspect, when one is newer than its verification. */
  suspect?: ProviderNodeStatusAttestationReplicaFailure;
}

const verifiedAtOf = (pn: ProviderNode): number => (pn.status?.attestation?.verifiedAt ? Date.parse(pn.status.attestation.verifiedAt) : -Infinity);

/** The replica failure recorded on `pn` that its own verification has not answered yet (newer than verifiedAt), if any. */
export function unansweredReplicaFailure(pn: ProviderNode): ProviderNodeStatusAttestationReplicaFailure | undefined {
  const failure = pn.status?.attestation?.replicaFailure;
  return failure !== undefined && Date.parse(failure.at) > verifiedAtOf(pn) ? failure : undefined;
}

/** What, beyond the schedule, asks for a challenge to `pn` now; `attested`: its verdict stands and has not lapsed. */
export function earlyRecheckOf(pn: ProviderNode, attested: boolean): EarlyRecheck {
  const a = pn.status?.attestation;
  const requested = reattestRequestOf(pn);
  const suspect = attested ? unansweredReplicaFailure(pn) : undefined;
  return {
    ...(requested !== undefined && requested !== a?.reattestRequest ? { pendingRequest: requested } : {}),
    answeringRequest: a?.reattestRequest !== undefined && a.challenge !== undefined && Date.parse(a.challenge.issuedAt) > verifiedAtOf(pn),
    ...(suspect !== undefined ? { suspect } : {}),
  };
}
