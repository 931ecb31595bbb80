// How many replicas each pool already has on each provider and on each node. Spreading and maxPerNode
// are judged against these counts; they grow as a plan places replicas, so the eighth replica of a pool
// sees the seven placed before it in the same batch.
import type { FleetIndex } from './fleet-index.js';
import type { Placement } from './types.js';

export interface PoolUsage {
  readonly replicasByProvider: ReadonlyMap<string, number>;
  readonly replicasByNode: ReadonlyMap<string, number>;
}

interface MutablePoolUsage {
  readonly replicasByProvider: Map<string, number>;
  readonly replicasByNode: Map<string, number>;
}

const NO_USAGE: PoolUsage = { replicasByProvider: new Map(), replicasByNode: new Map() };

export class PoolUsageTracker {
  private readonly byPool = new Map<string, MutablePoolUsage>();

  /** Counts existing placements; a node the index does not know still counts for maxPerNode. */
  constructor(index: FleetIndex, existing: Iterable<Placement>) {
    for (const placement of existing) {
      this.record(placement.pool, placement.node, index.node(placement.node)?.provider);
    }
  }

  of(pool: string): PoolUsage {
    return this.byPool.get(pool) ?? NO_USAGE;
  }

  record(pool: string, node: string, provider: string | undefined): void {
    let usage = this.byPool.get(pool);
    if (usage === undefined) {
      usage = { replicasByProvider: new Map(), replicasByNode: new Map() };
      this.byPool.set(pool, usage);
    }
    usage.replicasByNode.set(node, (usage.replicasByNode.get(node) ?? 0) + 1);
    if (provider !== undefined) {
      usage.replicasByProvider.set(provider, (usage.replicasByProvider.get(provider) ?? 0) + 1);
    }
  }
}
