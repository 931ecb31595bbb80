// Retrying transient failures with jittered exponential backoff. Only errors that say they are transient
// (AttesterError.transient: the service was unreachable or busy) are retried; a refused token or a
// missing TEE will not fix itself and is returned at once.
import { setTimeout as delay } from 'node:timers/promises';
import { AttesterError } from './errors.js';

export interface RetryPolicy {
  /** First delay (ms); each retry doubles it. */
  initialMs: number;
  /** Cap on one delay (ms). */
  maxMs: number;
  /** Total tries including the first; Infinity retries forever (daemon mode). */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 500, maxMs: 30_000, maxAttempts: 6 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Sleeps `ms`, rejecting with the signal's reason when aborted. */
export const realSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : undefined);
};

/**
 * Delay before retry number `retry` (1-based): min(maxMs, initialMs·2^(retry−1)), scaled into
 * [½, 1] of that by `random()` so that many attesters restarted together do not retry in lockstep.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

export interface RetryHooks {
  sleep?: Sleep;
  random?: () => number;
  signal?: AbortSignal;
  /** Called before each wait with the failure and the chosen delay (for logs and tests). */
  onRetry?: (err: AttesterError, retry: number, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, fails non-transiently, or the policy's tries are used up. */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const sleep = hooks.sleep ?? realSleep;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof AttesterError) || !err.transient || n >= policy.maxAttempts || hooks.signal?.aborted) throw err;
      const ms = backoffDelay(n, policy, hooks.random);
      hooks.onRetry?.(err, n, ms);
      await sleep(ms, hooks.signal);
    }
  }
}
