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

/** Whether a challenge issued at `issuedAt` (ISO time; absent for challenges written before it was recorded) is past its lifetime at `nowMs`. */
export function outlivedItsLifetime(issuedAt: string | undefined, lifetimeSeconds: number, nowMs: number): boolean {
  const issued = issuedAt === undefined ? NaN : Date.parse(issuedAt);
  return Number.isFinite(issued) && nowMs - issued >= lifetimeSeconds * 1000;
}
