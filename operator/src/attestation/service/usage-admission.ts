// Usage reports yield to attestation. A replica's usage report carries cumulative counters (per boot), so
// one that is turned away loses nothing: the replica's next report carries the same tokens and more.
// A node's or a replica's attestation cannot wait like that: a renewal refused for long enough lapses the
// replica and takes it out of routing. Yet the two share this service's apiserver budget, and at the
// attester's default interval (60 s) 2,000 hosts with 8,000 replicas send 133 reports a second, each a Pod
// read and a ProviderNode status write: when the apiserver slows, reports piled up in flight without a
// bound and every renewal waited behind them (npm run bench -- chaos --nodes 2000).
//
// So a service replica serves at most `maxUsageReportsInFlight` reports at a time and answers the rest 429
// before reading anything for them. Under load each report takes longer, so fewer are admitted per second
// (Little's law) and the apiserver's capacity goes to attestation first; when the apiserver is quick the
// bound is far above what the fleet sends.

//
// Which reports get the places matters too. Taken in arrival order, a place goes to whichever report comes
// when one is free, so under sustained load a replica is deferred again and again by chance: in the chaos
// bench at 2,000 nodes, with about 40% of reports deferred, the last replicas' final counters took some
// eight intervals to get through after the traffic stopped. So the last quarter of the places is kept for
// replicas this service deferred before (UsageAdmission): a report from one of them may take any place,
// a first try only the others. The bound on what usage costs the apiserver stays `max`.

/** How long a deferred replica is told to wait (its reporter retries at its next interval regardless). */
export const USAGE_RETRY_AFTER_MS = 5_000;
/** How long a deferral is remembered (a replica reports every 60 s by default; later, it starts afresh). */
export const DEFERRAL_MEMORY_MS = 10 * 60_000;
/** At most this many deferred replicas are remembered (the oldest are forgotten first). */
export const MAX_REMEMBERED_DEFERRALS = 50_000;

export class InFlightLimit {
  #inFlight = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`an in-flight limit must be a whole number of at least 1 (got ${max})`);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** A slot's release (idempotent) while fewer than `max` are in flight; undefined when all are taken. */
  tryEnter(): (() => void) | undefined {
    if (this.#inFlight >= this.max) return undefined;
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
    };
  }
}

/**
 * The usage reports one service replica serves at once: at most `max`, of which the last quarter only to
 * replicas deferred before (keyed by caller: one replica Pod).
 */
export class UsageAdmission {
  readonly #places: InFlightLimit;
  /** Caller → when it was last deferred; insertion order is age order (re-inserted on each deferral). */
  readonly #deferred = new Map<string, number>();

  constructor(readonly max: number, private readonly now: () => number = Date.now) {
    this.#places = new InFlightLimit(max);
  }

  /** Places kept for replicas deferred before. */
  get reserved(): number {
    return Math.floor(this.max / 4);
  }

  get inFlight(): number {
    return this.#places.inFlight;
  }

  /** A place's release, or undefined: defer the report (and remember the caller, so its next try may take a kept place). */
  tryEnter(caller: string): (() => void) | undefined {
    const now = this.now();
    this.#forgetOld(now);
    const deferredBefore = this.#deferred.has(caller);
    const release = deferredBefore || this.#places.inFlight < this.max - this.reserved ? this.#places.tryEnter() : undefined;
    if (release) {
      this.#deferred.delete(caller);
      return release;
    }
    this.#deferred.delete(caller);
    this.#deferred.set(caller, now);
    if (this.#deferred.size > MAX_REMEMBERED_DEFERRALS) this.#deferred.delete(this.#deferred.keys().next().value!);
    return undefined;
  }

  #forgetOld(now: number): void {
    for (const [caller, at] of this.#deferred) {
      if (now - at < DEFERRAL_MEMORY_MS) break;
      this.#deferred.delete(caller);
    }
  }
}
