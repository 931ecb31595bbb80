// A capacity group is every schedulable node that is interchangeable as far as a replica's constraints
// go: same GPU model, same TEE type, same price coefficient. A replica's constraints either accept a
// whole group or reject it, so eligibility is decided once per group (a handful) instead of once per
// node (thousands). Inside a group, nodes sit in buckets keyed by their exact number of free GPUs, so
// best fit is "walk the buckets upwards from the GPUs needed": O(distinct free counts), typically ≤ 8.
import { FreeBucket } from './free-bucket.js';
import type { NodeCapacity, TeeType } from './types.js';

export function capacityGroupKey(gpuModel: string, tee: TeeType, priceCoefficient: number): string {
  return `${gpuModel}\u0000${tee}\u0000${priceCoefficient}`;
}

export class CapacityGroup {
  /** bucketsByFree[f] holds the nodes with exactly f free GPUs (f ≥ 1; full nodes are in no bucket). */
  private readonly bucketsByFree: (FreeBucket | undefined)[] = [];
  /** How many nodes have each GPU total, so the largest total survives removals without a rescan. */
  private readonly nodesByTotal = new Map<number, number>();
  private nodes = 0;
  private free = 0;

  constructor(
    readonly gpuModel: string,
    readonly tee: TeeType,
    readonly priceCoefficient: number,
  ) {}

  /** Schedulable nodes in the group, including those with no GPU free. */
  get nodeCount(): number {
    return this.nodes;
  }

  get freeGpus(): number {
    return this.free;
  }

  /** The highest free count any bucket was ever created for; the upper end of a best-fit walk. */
  get highestBucket(): number {
    return this.bucketsByFree.length - 1;
  }

  bucket(freeGpus: number): FreeBucket | undefined {
    return this.bucketsByFree[freeGpus];
  }

  /** The most GPUs free on any one node of the group (0 when every node is full). */
  largestFreeBlock(): number {
    for (let f = this.bucketsByFree.length - 1; f > 0; f--) {
      if ((this.bucketsByFree[f]?.size ?? 0) > 0) return f;
    }
    return 0;
  }

  /** The most GPUs any node of the group has in total. */
  largestNode(): number {
    let largest = 0;
    for (const total of this.nodesByTotal.keys()) largest = Math.max(largest, total);
    return largest;
  }

  add(node: NodeCapacity): void {
    this.nodes += 1;
    this.free += node.gpuFree;
    this.nodesByTotal.set(node.gpuTotal, (this.nodesByTotal.get(node.gpuTotal) ?? 0) + 1);
    this.putInBucket(node.gpuFree, node);
  }

  remove(node: NodeCapacity): void {
    this.nodes -= 1;
    this.free -= node.gpuFree;
    const sameTotal = (this.nodesByTotal.get(node.gpuTotal) ?? 1) - 1;
    if (sameTotal === 0) this.nodesByTotal.delete(node.gpuTotal);
    else this.nodesByTotal.set(node.gpuTotal, sameTotal);
    this.bucketsByFree[node.gpuFree]?.delete(node.provider, node.name);
  }

  /** Moves a node between buckets after its free GPUs changed from `before` to `node.gpuFree`. */
  changeFree(node: NodeCapacity, before: number): void {
    this.free += node.gpuFree - before;
    this.bucketsByFree[before]?.delete(node.provider, node.name);
    this.putInBucket(node.gpuFree, node);
  }

  private putInBucket(freeGpus: number, node: NodeCapacity): void {
    if (freeGpus === 0) return;
    let bucket = this.bucketsByFree[freeGpus];
    if (bucket === undefined) {
      // Fill the gap below so the array stays dense and `highestBucket` stays meaningful.
      for (let f = this.bucketsByFree.length; f < freeGpus; f++) this.bucketsByFree[f] = undefined;
      bucket = new FreeBucket();
      this.bucketsByFree[freeGpus] = bucket;
    }
    bucket.add(node.provider, node.name);
  }
}
