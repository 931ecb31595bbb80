// The fleet index: every known node, plus the schedulable ones arranged in capacity groups and free-GPU
// buckets. It is built once and then kept current in place: a node change, an allocation or a release
// touches only that node's bucket entries (two binary searches), so the operator never rebuilds it and
// placing a replica never rescans the fleet.
//
// "Schedulable" = attested, not quarantined, not cordoned. Other nodes are remembered (so an update that
// makes them schedulable is ordinary) and counted (so an unplaced replica can say why), but no search
// ever looks at them: the attestation gate is applied when a node enters the index, not per replica.
import { CapacityGroup, capacityGroupKey } from './capacity-group.js';
import type { NodeCapacity, ReplicaRequest } from './types.js';

/** Counters that let tests and benchmarks see how much work the index does; never reset by the index. */
export interface FleetIndexStats {
  /** Bucket entries (nodes or providers) a search looked at. */
  entriesVisited: number;
  /** Times a node entered, left or moved between buckets. */
  bucketUpdates: number;
}

/** Why nodes are not schedulable, for messages such as "no attested node (3 quarantined)". */
export interface UnschedulableCounts {
  readonly notAttested: number;
  readonly quarantined: number;
  readonly cordoned: number;
}

export function isSchedulable(node: NodeCapacity): boolean {
  return node.attested && !node.quarantined && !node.cordoned;
}

export class FleetIndex {
  readonly stats: FleetIndexStats = { entriesVisited: 0, bucketUpdates: 0 };
  private readonly nodesByName = new Map<string, NodeCapacity>();
  private readonly groupsByKey = new Map<string, CapacityGroup>();
  private schedulable = 0;
  private notAttested = 0;
  private quarantined = 0;
  private cordoned = 0;

  constructor(nodes: Iterable<NodeCapacity> = []) {
    for (const node of nodes) this.upsertNode(node);
  }

  /** Every known node, schedulable or not. */
  get size(): number {
    return this.nodesByName.size;
  }

  get schedulableCount(): number {
    return this.schedulable;
  }

  get unschedulable(): UnschedulableCounts {
    return { notAttested: this.notAttested, quarantined: this.quarantined, cordoned: this.cordoned };
  }

  /** The node as the index currently sees it (free GPUs net of allocations made through the index). */
  node(name: string): NodeCapacity | undefined {
    return this.nodesByName.get(name);
  }

  nodes(): IterableIterator<NodeCapacity> {
    return this.nodesByName.values();
  }

  /** All capacity groups (only schedulable nodes), in no particular order. */
  groups(): IterableIterator<CapacityGroup> {
    return this.groupsByKey.values();
  }

  /** Adds a node or replaces what the index knows about it (the caller's view is the truth). */
  upsertNode(node: NodeCapacity): void {
    validateNode(node);
    const stored = Object.freeze({ ...node });
    this.removeNode(node.name);
    this.nodesByName.set(stored.name, stored);
    this.count(stored, +1);
    if (isSchedulable(stored)) {
      this.groupFor(stored).add(stored);
      this.stats.bucketUpdates += 1;
    }
  }

  /** Forgets a node; returns false when it was not known. */
  removeNode(name: string): boolean {
    const node = this.nodesByName.get(name);
    if (node === undefined) return false;
    this.nodesByName.delete(name);
    this.count(node, -1);
    if (isSchedulable(node)) {
      const key = capacityGroupKey(node.gpuModel, node.tee, node.priceCoefficient);
      const group = this.groupsByKey.get(key) as CapacityGroup;
      group.remove(node);
      if (group.nodeCount === 0) this.groupsByKey.delete(key);
      this.stats.bucketUpdates += 1;
    }
    return true;
  }

  /** Takes `gpus` GPUs on a node. Throws rather than over-commit: that would be an accounting bug. */
  allocate(name: string, gpus: number): void {
    const node = this.nodesByName.get(name);
    if (node === undefined) throw new RangeError(`allocate: node ${name} is not in the fleet index`);
    if (!isPositiveInteger(gpus) || gpus > node.gpuFree) {
      throw new RangeError(`allocate: node ${name} has ${node.gpuFree} GPUs free, cannot take ${gpus}`);
    }
    this.setFree(node, node.gpuFree - gpus);
  }

  /** Gives back `gpus` GPUs on a node (a replica was deleted or its binding failed). */
  release(name: string, gpus: number): void {
    const node = this.nodesByName.get(name);
    if (node === undefined) return; // the node went away with its GPUs; nothing to give back
    if (!isPositiveInteger(gpus) || node.gpuFree + gpus > node.gpuTotal) {
      throw new RangeError(
        `release: node ${name} has ${node.gpuFree} of ${node.gpuTotal} GPUs free, cannot free ${gpus} more`,
      );
    }
    this.setFree(node, node.gpuFree + gpus);
  }

  /** Groups whose GPU model, TEE and price every node of satisfies the request. */
  groupsFor(request: ReplicaRequest): CapacityGroup[] {
    const matching: CapacityGroup[] = [];
    for (const group of this.groupsByKey.values()) {
      if (
        request.gpuModels.includes(group.gpuModel) &&
        request.teeTypes.includes(group.tee) &&
        group.priceCoefficient <= request.maxPriceCoefficient
      ) {
        matching.push(group);
      }
    }
    return matching;
  }

  /**
   * Checks that buckets and counters agree with the nodes, node by node. O(fleet); for tests only.
   * Returns one line per disagreement, empty when consistent.
   */
  inconsistencies(): string[] {
    const problems: string[] = [];
    let schedulable = 0;
    for (const node of this.nodesByName.values()) {
      if (node.gpuFree < 0 || node.gpuFree > node.gpuTotal) problems.push(`${node.name}: gpuFree ${node.gpuFree} out of range`);
      if (!isSchedulable(node)) continue;
      schedulable += 1;
      const group = this.groupsByKey.get(capacityGroupKey(node.gpuModel, node.tee, node.priceCoefficient));
      if (group === undefined) {
        problems.push(`${node.name}: schedulable but its capacity group is missing`);
        continue;
      }
      for (let f = 1; f <= group.highestBucket; f++) {
        const inBucket = group.bucket(f)?.nodesOf(node.provider)?.has(node.name) ?? false;
        if (inBucket !== (f === node.gpuFree)) problems.push(`${node.name}: bucket ${f} membership is ${inBucket}`);
      }
    }
    if (schedulable !== this.schedulable) problems.push(`schedulable count ${this.schedulable}, actual ${schedulable}`);
    let grouped = 0;
    for (const group of this.groupsByKey.values()) grouped += group.nodeCount;
    if (grouped !== schedulable) problems.push(`groups hold ${grouped} nodes, ${schedulable} are schedulable`);
    return problems;
  }

  private setFree(node: NodeCapacity, gpuFree: number): void {
    const updated = Object.freeze({ ...node, gpuFree });
    this.nodesByName.set(node.name, updated);
    if (isSchedulable(node)) {
      const group = this.groupsByKey.get(capacityGroupKey(node.gpuModel, node.tee, node.priceCoefficient));
      (group as CapacityGroup).changeFree(updated, node.gpuFree);
      this.stats.bucketUpdates += 1;
    }
  }

  private groupFor(node: NodeCapacity): CapacityGroup {
    const key = capacityGroupKey(node.gpuModel, node.tee, node.priceCoefficient);
    let group = this.groupsByKey.get(key);
    if (group === undefined) {
      group = new CapacityGroup(node.gpuModel, node.tee, node.priceCoefficient);
      this.groupsByKey.set(key, group);
    }
    return group;
  }

  private count(node: NodeCapacity, delta: 1 | -1): void {
    if (isSchedulable(node)) this.schedulable += delta;
    if (!node.attested) this.notAttested += delta;
    if (node.quarantined) this.quarantined += delta;
    if (node.cordoned) this.cordoned += delta;
  }
}

function isPositiveInteger(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

/** Rejects nodes the engine cannot reason about, naming the field, instead of misplacing replicas. */
function validateNode(node: NodeCapacity): void {
  const problem = (field: string, why: string): never => {
    throw new RangeError(`node ${JSON.stringify(node.name)}: ${field} ${why}`);
  };
  if (typeof node.name !== 'string' || node.name === '') problem('name', 'must be a non-empty string');
  if (typeof node.provider !== 'string' || node.provider === '') problem('provider', 'must be a non-empty string');
  if (!Number.isInteger(node.gpuTotal) || node.gpuTotal < 0) problem('gpuTotal', 'must be an integer ≥ 0');
  if (!Number.isInteger(node.gpuFree) || node.gpuFree < 0 || node.gpuFree > node.gpuTotal) {
    problem('gpuFree', `must be an integer between 0 and gpuTotal (${node.gpuTotal})`);
  }
  if (!Number.isFinite(node.priceCoefficient) || node.priceCoefficient < 0) {
    problem('priceCoefficient', 'must be a finite number ≥ 0');
  }
}
