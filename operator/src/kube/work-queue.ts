// A de-duplicating, rate-limited work queue of string keys, the same contract as client-go's
// workqueue:
//  - A key is in the queue at most once: adding a queued key does nothing (ten events for one object
//    between two reconciles cost one reconcile).
//  - A key being processed is never handed to a second worker; if it is added meanwhile it is marked
//    dirty and queued again when the worker calls done(), so the change that arrived mid-reconcile is
//    not lost.
//  - addRateLimited(key) re-queues after a delay that is the larger of the key's own exponential
//    failure backoff and an overall token bucket (so a thousand keys failing together are retried at a
//    bounded rate); forget(key) resets the key's failures after a success. addAfterConflict(key) re-queues
//    a key refused with 409 Conflict outside that bucket, no sooner than a floor: its newer object's watch
//    event brings it back first.
//  - addAfter(key, ms) schedules a key (requeueAfterMs); the earliest pending time for a key wins.
//  - shutdown() stops handing out keys: get() resolves undefined; queued keys are dropped (reconcilers
//    are level-triggered, so the next leader resyncs everything) and drain() waits for in-flight ones.
// The clock and random source are injectable so the tests need not sleep for real backoff times.
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { KeyLine } from './key-line.js';
import type { OperatorMetrics } from './metrics.js';
import { TokenBucket } from './token-bucket.js';

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 5, maxMs: 300_000, jitter: 0.1 };

/** The soonest a key refused with 409 is retried when no watch event brings it back sooner (addAfterConflict). */
export const CONFLICT_RETRY_FLOOR_MS = 2_000;

export interface WorkQueueOptions {
  name: string;
  /** Per-key failure backoff (default 5 ms doubling to 5 min, 10% jitter). */
  backoff?: BackoffPolicy;
  /** Overall limit on rate-limited re-adds (default 10/s, burst 100, as client-go). */
  rateLimit?: { qps: number; burst: number };
  metrics?: OperatorMetrics;
  now?: () => number;
  random?: () => number;
}

export class WorkQueue {
  readonly name: string;
  /** Keys waiting, oldest first (each step O(1): key-line.ts). */
  private readonly queue = new KeyLine();
  /** Urgent keys, served before `queue`, oldest first: see addUrgent. */
  private readonly urgent = new KeyLine();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Dirty keys that were made urgent while in flight. */
  private readonly dirtyUrgent = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private readonly random: () => number;
  private shuttingDown = false;

  constructor(private readonly options: WorkQueueOptions) {
    this.name = options.name;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    const rl = options.rateLimit ?? { qps: 10, burst: 100 };
    this.bucket = new TokenBucket({ ratePerSec: rl.qps, burst: rl.burst, now: this.now });
  }

  /** Keys waiting to be handed out (not counting delayed or in-flight ones). */
  len(): number { return this.urgent.size + this.queue.size; }
  get inFlight(): number { return this.processing.size; }
  get isShutDown(): boolean { return this.shuttingDown; }
  /** Failures recorded for a key since its last forget(). */
  numRequeues(key: string): number { return this.failures.get(key) ?? 0; }

  add(key: string): void {
    this.enqueue(key, false);
  }

  /**
   * Like add, but the key is served before every key added with add: for changes that should not wait
   * behind a backlog of other work, e.g. a verdict that lets a node take work while thousands of nodes
   * still wait for their first challenge. Urgent keys are served among themselves in the order they
   * became urgent: stacked newest first, a steady stream of urgent keys (a cold start's verdicts) kept
   * the first ones waiting until the stream ended. A queued key made urgent moves to the end of the
   * urgent line; a key in flight is marked dirty as with add, and joins the urgent line when it is done.
   */
  addUrgent(key: string): void {
    this.enqueue(key, true);
  }

  private enqueue(key: string, urgent: boolean): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      if (urgent) this.dirtyUrgent.add(key);
      return;
    }
    if (this.urgent.has(key)) return;
    if (this.queue.has(key)) {
      if (urgent) {
        this.queue.delete(key);
        this.urgent.push(key);
      }
      return;
    }
    const waiter = this.waiters.shift();
    this.options.metrics?.queueAdds.inc({ queue: this.name });
    if (waiter) {
      // A worker is already waiting: hand the key straight over.
      this.processing.add(key);
      waiter(key);
      return;
    }
    (urgent ? this.urgent : this.queue).push(key);
    this.depthChanged();
  }

  /** Adds `key` after `ms`; if it is already scheduled for later, the earlier time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** The delay addRateLimited would use now for `key` (consumes a token and counts a failure). */
  nextRetryDelay(key: string): number {
    return Math.max(this.countFailure(key), this.bucket.reserve());
  }

  /** Re-queues a key that failed, after its backoff. */
  addRateLimited(key: string): number {
    if (this.shuttingDown) return 0;
    return this.retryAfter(key, this.nextRetryDelay(key));
  }

  /**
   * Re-queues a key whose write was refused because the object changed since it was read (409): after the
   * key's own backoff, but at least `floorMs`, and without drawing on the queue-wide bucket. What brings
   * such a key back first is the newer object's watch event (an add, or `dirty` while it is in flight),
   * which is the first moment a retry can plan from a copy the apiserver accepts: a retry before it is
   * refused again. This timer only covers a change no watched object shows.
   */
  addAfterConflict(key: string, floorMs = CONFLICT_RETRY_FLOOR_MS): number {
    if (this.shuttingDown) return 0;
    return this.retryAfter(key, Math.max(floorMs, this.countFailure(key)));
  }

  /** Counts a failure of `key` and returns the key's own backoff for it (the first failure gets initialMs). */
  private countFailure(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return backoffDelay(failures, this.options.backoff ?? DEFAULT_BACKOFF, this.random);
  }

  /** Schedules a failed key's retry after `delay` ms, counted as a retry. */
  private retryAfter(key: string, delay: number): number {
    this.options.metrics?.queueRetries.inc({ queue: this.name });
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears a key's failure count (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to process, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.urgent.shift() ?? this.queue.shift();
    if (key !== undefined) {
      this.processing.add(key);
      this.depthChanged();
      return Promise.resolve(key);
    }
    return new Promise((r) => this.waiters.push(r));
  }

  /** Marks a key handed out by get() as finished; re-queues it if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    const urgent = this.dirtyUrgent.delete(key);
    if (this.dirty.delete(key)) this.enqueue(key, urgent);
    if (this.processing.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops handing out keys and drops queued and delayed ones; in-flight keys finish normally. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queue.clear();
    this.urgent.clear();
    this.dirty.clear();
    this.dirtyUrgent.clear();
    this.depthChanged();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** shutdown(), then waits until no key is in flight or `timeoutMs` passes; true if drained. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.shutdown();
    if (this.processing.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((r) => this.idleWaiters.push(() => r(true))),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); }),
    ]);
    clearTimeout(timer);
    return drained;
  }

  private depthChanged(): void {
    this.options.metrics?.queueDepth.set({ queue: this.name }, this.len());
  }
}
