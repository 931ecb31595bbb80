// How long a challenge (a node's or a replica's) may be answered. Evidence is judged by its age since the
// nonce was issued (freshness.ts: policy.maxEvidenceAgeSeconds), so a challenge that outlives that age can
// only collect a rejection: an attester that could not answer in time (the service or the apiserver was
// unreachable a while) then answers EVIDENCE_TOO_OLD — and for a node, three rejected answers to one
// nonce quarantine it. So a challenge lives no longer than the policy's evidence age, nor than the
// operator's challengeTtlSeconds; when it lapses a new one is issued and the attester answers that.

/** Seconds a challenge issued now stays answerable. */
export function challengeLifetimeSeconds(challengeTtlSeconds: number, policy: { maxEvidenceAgeSeconds?: number } | undefined): number {
  return Math.min(challengeTtlSeconds, policy?.maxEvidenceAgeSeconds ?? Infinity);
}

/**
 * When a challenge stops being answerable, in epoch ms: its expiresAt, or its issue time plus the lifetime
 * allowed now when that comes first (the policy's evidence age was lowered since it was issued). A
 * challenge without a readable issue time (written before it was recorded) lapses at its expiresAt; one
 * whose expiresAt does not parse: NaN, never answerable.
 */
export function challengeLapsesAt(challenge: { issuedAt?: string; expiresAt: string }, lifetimeSeconds: number): number {
  const issued = challenge.issuedAt === undefined ? NaN : Date.parse(challenge.issuedAt);
  const expires = Date.parse(challenge.expiresAt);
  return Number.isFinite(issued) ? Math.min(expires, issued + lifetimeSeconds * 1000) : expires;
}
