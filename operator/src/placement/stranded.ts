// What "stranded GPUs" means in this project, in one place, so the engine's tests and the benchmark
// (which measures both this engine and kube-scheduler from the nodes' final state) count the same way.
//
// Stranded GPUs: free GPUs on a schedulable node that already has at least one GPU allocated. A whole
// idle node can take a replica of any size; the leftover of a partly used node can only take replicas
// no larger than the leftover, so it is capacity chipped off for the big replicas. When total demand
// equals total capacity and a perfect packing exists, the stranded count is 0 exactly when every
// replica was placed; otherwise it is the price of fragmentation.
//
// Unusable GPUs (given the replicas still pending): stranded or not, free GPUs on a node whose free
// block is smaller than the smallest pending replica — nothing waiting can use them. This view ignores
// GPU model, TEE and price, so it is meant for homogeneous fleets such as the benchmark's.
import { isSchedulable } from './fleet-index.js';
import type { NodeCapacity } from './types.js';

export interface StrandingReport {
  /** Free GPUs on schedulable nodes. */
  readonly freeGpus: number;
  /** Free GPUs on schedulable nodes that are partly allocated (0 < free < total). */
  readonly strandedGpus: number;
  /** Schedulable nodes that are partly allocated. */
  readonly partlyUsedNodes: number;
  /** Schedulable nodes with every GPU free. */
  readonly idleNodes: number;
  /** Free GPUs in blocks smaller than the smallest pending replica (0 when nothing is pending). */
  readonly unusableForPending: number;
}

export function measureStranding(
  nodes: Iterable<NodeCapacity>,
  pendingReplicaGpus: readonly number[] = [],
): StrandingReport {
  // A loop rather than Math.min(...list): the list can be tens of thousands long.
  let smallestPending = pendingReplicaGpus.length === 0 ? 0 : Infinity;
  for (const gpus of pendingReplicaGpus) smallestPending = Math.min(smallestPending, gpus);
  let freeGpus = 0;
  let strandedGpus = 0;
  let partlyUsedNodes = 0;
  let idleNodes = 0;
  let unusableForPending = 0;
  for (const node of nodes) {
    if (!isSchedulable(node) || node.gpuFree === 0) continue;
    freeGpus += node.gpuFree;
    if (node.gpuFree === node.gpuTotal) {
      idleNodes += 1;
    } else {
      partlyUsedNodes += 1;
      strandedGpus += node.gpuFree;
    }
    if (node.gpuFree < smallestPending) unusableForPending += node.gpuFree;
  }
  return { freeGpus, strandedGpus, partlyUsedNodes, idleNodes, unusableForPending };
}
