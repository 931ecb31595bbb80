// Usage reports yield to attestation. A replica's usage report carries cumulative counters (per boot), so
// one that is turned away loses nothing: the replica's next report carries the same tokens and more.
// A node's or a replica's attestation cannot wait like that: a renewal refused for long enough lapses the
// replica and takes it out of routing. Yet the two share this service's apiserver budget, each report a
// Pod read and a ProviderNode status write, and at the attester's default interval (60 s) 8,000 replicas
// send 133 reports a second. When the apiserver slowed, reports piled up in flight without a bound and
// every renewal waited behind them (npm run bench -- chaos --nodes 2000: 2,000 replicas, 33 a second).
//
// So a service replica serves at most `maxUsageReportsInFlight` reports at a time and answers the rest 429
// before reading anything for them. Under load each report takes longer, so fewer are admitted per second
// (Little's law) and the apiserver's capacity goes to attestation first; when the apiserver is quick the
// bound is far above what the fleet sends.

/** How long a deferred replica is told to wait (its reporter retries at its next interval regardless). */
export const USAGE_RETRY_AFTER_MS = 5_000;

export class InFlightLimit {
  #inFlight = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`an in-flight limit must be a whole number of at least 1 (got ${max})`);
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
