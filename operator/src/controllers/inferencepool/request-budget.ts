// The replica requests of all pool reconciles share one budget of requests in flight, handed out by
// priority rather than in arrival order.
//
// Why a budget at all: Node's HTTPS agent opens one TLS connection per concurrent request, so unbounded
// fan-out costs the apiserver a handshake each and the operator memory per socket, without binding any
// faster — the apiserver is the bottleneck, and past a few dozen requests in flight more only adds
// latency.
//
// Why priorities: with one FIFO queue, 32 pools starting together queued 256 creates, and work that
// finishes something already started (the binding of a Pod that exists unbound, which holds its GPUs in
// the index while running nowhere; the delete of a replica on a quarantined node) waited behind all of
// them, and every Event queued in between took a slot from it. So:
//
//   bind   the binding of an existing unbound replica, a delete, a readiness-gate flip: finishes work
//          already started;
//   create a new replica Pod (created bound to its node);
//   event  a Kubernetes Event: a courtesy to people, sent only while no replica request waits or is in
//          flight, and at most `maxEvents` at once, so a burst of placements is not slowed by its own
//          paper trail (on a busy control plane every Event is a write the apiserver and etcd pay for
//          while the replicas still wait for theirs).
//
// Within a priority, requests are served in arrival order. Nothing is dropped: an Event waits as long
// as replica requests keep coming, which is also how client-go's event broadcaster behaves (its
// sink writes one Event at a time, behind the controller's own requests).

export type RequestPriority = 'bind' | 'create' | 'event';

/**
 * Replica requests in flight by default: 64, as many as the placement bench's floor writes at once (the
 * same Pods written already bound, no controller). With 32 the operator left the apiserver idle between
 * answers that 64 fill: at 2,000 nodes ours/floor was 1.48 (median of three) with 32.
 */
export const DEFAULT_MAX_IN_FLIGHT = 64;

const ORDER: readonly RequestPriority[] = ['bind', 'create', 'event'];

export interface RequestBudgetOptions {
  /** Requests in flight at once, all priorities together. */
  maxInFlight: number;
  /** Events in flight at once (default 4); they never take more than this from the budget. */
  maxEvents?: number;
}

export class RequestBudget {
  private active = 0;
  private activeEvents = 0;
  private readonly waiting: Record<RequestPriority, Array<() => void>> = { bind: [], create: [], event: [] };
  private readonly maxInFlight: number;
  private readonly maxEvents: number;

  constructor(options: RequestBudgetOptions) {
    const { maxInFlight, maxEvents = 4 } = options;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight must be an integer ≥ 1, got ${maxInFlight}`);
    if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new RangeError(`maxEvents must be an integer ≥ 1, got ${maxEvents}`);
    this.maxInFlight = maxInFlight;
    this.maxEvents = Math.min(maxEvents, maxInFlight);
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /** Requests waiting for a slot, by priority. */
  get queued(): Record<RequestPriority, number> {
    return { bind: this.waiting.bind.length, create: this.waiting.create.length, event: this.waiting.event.length };
  }

  async run<T>(priority: RequestPriority, fn: () => Promise<T>): Promise<T> {
    if (this.canStart(priority)) this.take(priority);
    // The slot is taken for us by release() before it wakes us, so no one can overtake in between.
    else await new Promise<void>((r) => this.waiting[priority].push(r));
    try {
      return await fn();
    } finally {
      this.release(priority);
    }
  }

  private canStart(priority: RequestPriority): boolean {
    if (this.active >= this.maxInFlight) return false;
    if (priority === 'event') return this.eventMayStart() && this.waiting.bind.length === 0 && this.waiting.create.length === 0;
    // A higher priority that waits goes first (it can only be waiting while the budget is full).
    return priority === 'bind' || this.waiting.bind.length === 0;
  }

  /** Below the Event cap, and no replica request in flight (one that waits is checked by the caller). */
  private eventMayStart(): boolean {
    return this.activeEvents < this.maxEvents && this.active === this.activeEvents;
  }

  private take(priority: RequestPriority): void {
    this.active++;
    if (priority === 'event') this.activeEvents++;
  }

  private release(priority: RequestPriority): void {
    this.active--;
    if (priority === 'event') this.activeEvents--;
    // Hand free slots to waiters, highest priority first.
    for (const p of ORDER) {
      const queue = this.waiting[p];
      while (queue.length > 0 && this.active < this.maxInFlight && (p !== 'event' || this.eventMayStart())) {
        this.take(p);
        (queue.shift() as () => void)();
      }
      if (queue.length > 0) return; // lower priorities wait while a higher one does
    }
  }
}
