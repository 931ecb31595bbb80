// Where a requested re-check of a node stands (`chrysalis reattest --wait`), read from its ProviderNode.
//
// The controller records the request it answered (status.attestation.reattestRequest) in the same write
// as the challenge that answers it, and the attestation service consumes that challenge when it records a
// final verdict (verifiedAt, or lastFailure). So the re-check is judged once the challenge seen pending is
// gone and a verdict newer than the one beside it is recorded: nonces and recorded values are compared,
// never times, so clocks that differ between the CLI, the controller and the service do not matter. A
// verdict can come so soon that no poll sees the challenge pending; then the verdict that changed since the
// request was made is the one. A challenge that lapsed unanswered and was replaced is followed in its turn.
import type { ProviderNode } from '../../../operator/src/api/index.js';
import { findCondition } from './state.js';

/** The node's verdict times as read just before the request was written. */
export interface VerdictBefore {
  verifiedAt?: string;
  failedAt?: string;
}

export function verdictBefore(node: ProviderNode): VerdictBefore {
  const a = node.status?.attestation;
  return { ...(a?.verifiedAt ? { verifiedAt: a.verifiedAt } : {}), ...(a?.lastFailure?.at ? { failedAt: a.lastFailure.at } : {}) };
}

export interface ReattestProgress {
  state: 'waiting' | 'verified' | 'rejected';
  /** What the user reads: the verdict, or what is awaited. */
  detail: string;
  /** The answering challenge and the verdict beside it, once seen pending: pass it back on the next poll. */
  seen?: SeenChallenge;
}

export interface SeenChallenge extends VerdictBefore {
  nonce: string;
  issuedAt: string;
}

/** The re-check asked for with `value`, given the verdict `before` the request and what an earlier poll saw (`seen`). */
export function reattestProgress(node: ProviderNode, value: string, before: VerdictBefore, seen?: SeenChallenge): ReattestProgress {
  const a = node.status?.attestation;
  const attested = findCondition(node.status?.conditions, 'Attested');
  if (a?.reattestRequest !== value) {
    const why = attested?.reason === 'PolicyNotFound' ? `not challenged: ${attested.message}` : 'waiting for the operator to challenge it (it keeps a bounded number of challenges outstanding)';
    return { state: 'waiting', detail: why };
  }
  const now = verdictBefore(node);
  const changedSince = (then: VerdictBefore) => now.verifiedAt !== then.verifiedAt || now.failedAt !== then.failedAt;
  const challenge = a.challenge;
  const judged = seen
    ? challenge?.nonce !== seen.nonce && changedSince(seen)
    : challenge === undefined && changedSince(before);
  if (!judged) {
    if (!challenge) return { state: 'waiting', detail: `no challenge pending: ${attested?.message ?? 'the operator has not challenged it yet'}`, ...(seen ? { seen } : {}) };
    const following = challenge.nonce === seen?.nonce ? seen : { nonce: challenge.nonce, issuedAt: challenge.issuedAt, ...now };
    const rejections = a.pendingRejections?.count ? `; its answer was rejected ${a.pendingRejections.count} time(s) so far (${a.pendingRejections.code}), the attester may answer again` : '';
    return { state: 'waiting', detail: `challenged at ${following.issuedAt}; waiting for the node's attester to answer${rejections}`, seen: following };
  }
  const failedLast = (now.failedAt ? Date.parse(now.failedAt) : -Infinity) > (now.verifiedAt ? Date.parse(now.verifiedAt) : -Infinity);
  if (failedLast) return { state: 'rejected', detail: `${a.lastFailure?.code}: ${a.lastFailure?.message} (at ${a.lastFailure?.at}); a node that was attested is quarantined` };
  return { state: 'verified', detail: `evidence verified at ${a.verifiedAt}, valid until ${a.expiresAt}` };
}
