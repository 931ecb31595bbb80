// Jittered exponential backoff, pure: the attempt number, the policy and the random source come in as
// arguments so the bounds can be tested exactly. Used by the work queue (per-key failure backoff), the
// informer (watch reconnects), leader election (retries) and the attester (retries of transient
// failures); it imports nothing, so the attester takes it without taking the operator.

export interface BackoffPolicy {
  /** Delay of the first retry (attempt 0). */
  initialMs: number;
  /** The delay never exceeds this, jitter included. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /**
   * Fraction of the delay that is randomised, 0..1 (default 0.2). The delay is drawn from
   * [base × (1 − jitter), base]: jitter only ever shortens it, so the cap holds and many clients that
   * failed together (an apiserver restart) do not all retry in the same millisecond.
   */
  jitter?: number;
}

/** The un-jittered delay of `attempt` (0-based): initial × factor^attempt, capped at maxMs. */
export function backoffBase(attempt: number, policy: BackoffPolicy): number {
  const factor = policy.factor ?? 2;
  // Cap the exponent so factor^attempt cannot overflow to Infinity for a key that failed for days.
  const exp = Math.min(Math.max(0, attempt), 64);
  return Math.min(policy.maxMs, policy.initialMs * factor ** exp);
}

/** The jittered delay of `attempt`; `random` returns [0, 1) like Math.random. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.2));
  const base = backoffBase(attempt, policy);
  return base * (1 - jitter * random());
}
