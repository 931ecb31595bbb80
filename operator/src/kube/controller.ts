// A controller: N workers taking keys from a work queue and calling a Reconciler.
//
// Contract: reconcile(key) → { requeueAfterMs? }. Returning schedules the next
// visit (or none); throwing means "retry with backoff"; throwing a TerminalError means the reconciler
// has recorded why it cannot proceed (a condition, an event) and retrying would not help, so the key is
// dropped until something changes and a watch enqueues it again. A NotLeaderError (the fence refused a
// write) is neither: once leadership has ended the key is left to the next leader; while the Lease is
// still ours and only its renewal is late, the key is tried again shortly.
//
// Watches enqueue keys, never payloads: watch(informer, toKeys) turns each add/update/delete into keys.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import type { Informer } from './informer.js';
import { NotLeaderError } from './leader-election.js';
import type { OperatorMetrics } from './metrics.js';
import { objectKeyOf, type KubeObject } from './resource.js';
import { isConflict } from './rest.js';
import { WorkQueue, type WorkQueueOptions } from './work-queue.js';

/** How soon a key refused by a fence closed only for a late renewal is tried again. */
export const FENCE_CLOSED_RETRY_MS = 1000;

export interface ReconcileResult {
  /** Visit the key again after this long even if nothing changes (expiries, polling the chain). */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** A child logger tagged { controller, key }. */
  log: Logger;
  /** Aborted when the controller stops; long reconciles should pass it on. */
  signal: AbortSignal;
}

export interface Reconciler {
  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | void>;
}

/** "Do not retry": the reconciler has recorded the reason (condition/event) and stops here. */
export class TerminalError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'TerminalError';
  }
}

export interface ControllerOptions {
  name: string;
  reconciler: Reconciler;
  /** Concurrent reconciles (default 1). One key is never reconciled by two workers at once. */
  workers?: number;
  queue?: Omit<WorkQueueOptions, 'name' | 'metrics'>;
  metrics?: OperatorMetrics;
  logger?: Logger;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly resyncs: Array<() => string[]> = [];
  private workers: Promise<void>[] = [];
  private readonly abort = new AbortController();
  private started = false;

  constructor(private readonly options: ControllerOptions) {
    this.name = options.name;
    this.queue = new WorkQueue({ name: options.name, metrics: options.metrics, ...options.queue });
    this.log = (options.logger ?? silentLogger()).child({ controller: options.name });
  }

  get running(): boolean { return this.started && !this.queue.isShutDown; }

  /**
   * Enqueues keys for every change the informer sees. `toKeys` maps an object to the keys to
   * reconcile (default: the object's own `Kind/namespace/name`; for owned objects, the owner's key).
   * On start, every cached object is enqueued once, so a new leader reconciles everything.
   */
  watch<T extends KubeObject>(
    informer: Informer<T>,
    toKeys: (obj: T) => string[] = (obj) => [objectKeyOf(informer.resource.kind, obj)],
    options: { urgent?: (old: T, obj: T) => boolean } = {},
  ): this {
    const enqueue = (obj: T) => { for (const k of toKeys(obj)) this.queue.add(k); };
    // An urgent update is served before the backlog, in the order urgent keys came (WorkQueue.addUrgent).
    const update = (old: T, obj: T) => {
      if (options.urgent?.(old, obj)) for (const k of toKeys(obj)) this.queue.addUrgent(k);
      else enqueue(obj);
    };
    informer.onAdd(enqueue).onUpdate(update).onDelete(enqueue);
    this.informers.push(informer as unknown as Informer<KubeObject>);
    this.resyncs.push(() => informer.list().flatMap(toKeys));
    return this;
  }

  /** The informers this controller watches (the manager waits for them to sync). */
  get watched(): readonly Informer<KubeObject>[] { return this.informers; }

  enqueue(key: string): void { this.queue.add(key); }

  /** Enqueues `key` ahead of the backlog (WorkQueue.addUrgent): work that holds something scarce until it runs (a challenge slot). */
  enqueueUrgent(key: string): void { this.queue.addUrgent(key); }

  start(): void {
    if (this.started) throw new Error(`controller ${this.name} already started`);
    this.started = true;
    for (const resync of this.resyncs) for (const key of resync()) this.queue.add(key);
    const n = this.options.workers ?? 1;
    this.workers = Array.from({ length: n }, (_, i) => this.work(i));
    this.log.info('controller started', { workers: n });
  }

  /** Stops handing out keys and waits up to `timeoutMs` for in-flight reconciles; true if they finished. */
  async stop(timeoutMs: number): Promise<boolean> {
    const drained = await this.queue.drain(timeoutMs);
    // Reconciles still running past the deadline are told to give up.
    this.abort.abort();
    if (drained) await Promise.all(this.workers);
    this.log.info('controller stopped', { drained });
    return drained;
  }

  private async work(worker: number): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.reconcileOne(key, worker);
      this.queue.done(key);
      // A queued key comes as a resolved promise and a reconcile with nothing to do finishes without
      // I/O, so without this a backlog ran key after key in microtasks while no timer fired and no
      // socket was read: a new leader's resync of 8,000 replicas starved its own Lease renewals past
      // the renew deadline (test/kube/controller-yields.test.ts). setImmediate runs after the I/O poll.
      await yieldToEventLoop();
    }
  }

  private async reconcileOne(key: string, worker: number): Promise<void> {
    const log = this.log.child({ key, worker });
    const started = performance.now();
    const observe = (result: string) =>
      this.options.metrics?.reconcileDuration.observe({ controller: this.name, result }, (performance.now() - started) / 1000);
    try {
      const result = await this.options.reconciler.reconcile(key, { log, signal: this.abort.signal });
      observe('success');
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (err instanceof NotLeaderError) {
        observe('not_leader');
        if (!err.leadershipEnded) {
          // The Lease is still ours and its renewal is late: this process leads again once it lands (or
          // steps down and exits), so the key must not be dropped. In the chaos bench at 8,000 replicas
          // the fence closed for a moment at most renewals, and dropped keys waited for an unrelated event.
          this.queue.addAfter(key, FENCE_CLOSED_RETRY_MS);
          log.debug('write refused while the Lease renewal is late; retrying', { error: err.message, retryInMs: FENCE_CLOSED_RETRY_MS });
          return;
        }
        log.warn('write refused by the leader fence; leaving the key to the next leader', { error: err.message });
        return;
      }
      if (err instanceof TerminalError) {
        observe('terminal');
        this.options.metrics?.reconcileErrors.inc({ controller: this.name, kind: 'terminal' });
        this.queue.forget(key);
        log.error('reconcile failed terminally; not retrying', { reason: err.reason, error: err.message });
        return;
      }
      observe('error');
      this.options.metrics?.reconcileErrors.inc({ controller: this.name, kind: 'retryable' });
      // A conflict is optimistic concurrency doing its job: someone wrote first, and the plan was made from
      // an older copy. The newer object's watch event re-queues the key; retried sooner, the plan comes
      // from the same old copy and is refused again (in the chaos bench at 1,000 nodes, a new leader's
      // ProviderNode status writes were refused 95 times in 100, each retry drawing on the queue-wide
      // bucket until keys waited minutes). It is worth a warning only when it keeps happening.
      const conflict = isConflict(err);
      const delay = conflict ? this.queue.addAfterConflict(key) : this.queue.addRateLimited(key);
      const level = conflict && this.queue.numRequeues(key) < 5 ? 'debug' : 'warn';
      log[level]('reconcile failed; retrying', { error: err instanceof Error ? err.message : String(err), retryInMs: Math.round(delay) });
    }
  }
}
