// Prometheus view of the collateral cache, in the registry the caller gives (the operator's own). The
// state and nextUpdate gauges are read from the cache when scraped, so they never lag behind it.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CollateralEntryStatus } from './status.js';

export const COLLATERAL_STATES = ['fresh', 'refresh-due', 'stale', 'missing'] as const;

export class CollateralMetrics {
  readonly fetches: Counter<'family' | 'kind' | 'result'>;
  private readonly sources: Array<() => CollateralEntryStatus[]> = [];

  constructor(registry: Registry) {
    const sources = this.sources;
    this.fetches = new Counter({
      name: 'chrysalis_collateral_fetches_total',
      help: 'Collateral fetches from the configured endpoint; result: ok, not_found, error, refused (did not parse or its signature failed).',
      labelNames: ['family', 'kind', 'result'] as const,
      registers: [registry],
    });
    new Gauge({
      name: 'chrysalis_collateral_state',
      help: 'One series per cached collateral item and state (fresh, refresh-due, stale, missing); the value is 1 for its current state, 0 otherwise.',
      labelNames: ['family', 'kind', 'key', 'state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const entry of sources.flatMap((s) => s())) {
          for (const state of COLLATERAL_STATES) this.set({ family: entry.family, kind: entry.kind, key: entry.key, state }, entry.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'chrysalis_collateral_next_update_timestamp_seconds',
      help: 'nextUpdate of each cached collateral item (Unix seconds): verification fails closed after it unless a newer one was fetched.',
      labelNames: ['family', 'kind', 'key'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const entry of sources.flatMap((s) => s())) {
          if (entry.nextUpdate) this.set({ family: entry.family, kind: entry.kind, key: entry.key }, Date.parse(entry.nextUpdate) / 1000);
        }
      },
    });
  }

  /** A cache whose entries the gauges report. */
  watch(status: () => CollateralEntryStatus[]): void {
    this.sources.push(status);
  }
}
