// Retrying transient failures with the operator's jittered exponential backoff (one backoff for the
// whole project; it is pure and imports nothing). Only errors that say they are transient
// (AttesterError.transient: the service was unreachable or busy) are retried; a refused token or a
// missing TEE will not fix itself and is returned at once. A service that says when to come back
// (Retry-After on a 429 or 503) is not asked again sooner.
import { setTimeout as delay } from 'node:timers/promises';
import { backoffDelay, type BackoffPolicy } from '../../operator/src/kube/backoff.js';
import { AttesterError } from './errors.js';

export interface RetryPolicy extends BackoffPolicy {
  /** Total tries including the first; Infinity retries forever (daemon mode). */
  maxAttempts: number;
}

/**
 * The attester's jitter: a delay anywhere in [½, 1] of the doubling step, wider than the operator's
 * default, because a whole fleet of attesters restarts together (a node pool reboot, a service rollout)
 * and must not retry in lockstep.
 */
const ATTESTER_JITTER = 0.5;

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 500, maxMs: 30_000, maxAttempts: 6 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Sleeps `ms`, rejecting with the signal's reason when aborted. */
export const realSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : undefined);
};

/** Delay before retry number `retry` (1-based): the shared backoff of attempt retry − 1, jitter ½ unless the policy says. */
export function retryDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return backoffDelay(retry - 1, { ...policy, jitter: policy.jitter ?? ATTESTER_JITTER }, random);
}

/**
 * What a service's Retry-After asks for, spread like the backoff (up to half again): it told the whole
 * fleet the same number, and the fleet must not come back in the same second. It only ever lengthens a
 * wait: withRetry waits the longer of this and the backoff's delay (transport.ts caps what is believed).
 */
export function retryAfterDelay(retryAfterMs: number, random: () => number = Math.random): number {
  return Math.round(retryAfterMs * (1 + ATTESTER_JITTER * random()));
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
      // A service that said when to come back (429/503 with Retry-After) is not asked sooner.
      const backoff = retryDelay(n, policy, hooks.random);
      const ms = err.retryAfterMs === undefined ? backoff : Math.max(backoff, retryAfterDelay(err.retryAfterMs, hooks.random));
      hooks.onRetry?.(err, n, ms);
      await sleep(ms, hooks.signal);
    }
  }
}
