// Chooses the node for one replica. Every node considered already passed the hard filters (attested,
// not quarantined, not cordoned, allowed GPU model and TEE, price under the cap) because only matching
// capacity groups are searched, and has enough free GPUs because the walk starts at the bucket for
// exactly the GPUs needed. What is left is preference, as a lexicographic key (smaller is better):
//
//   without spreading:  (free GPUs on the node, replicas of the pool on its provider, on the node,
//                        provider name, node name)
//   with spreading:     (replicas of the pool on its provider, free GPUs on the node, on the node,
//                        provider name, node name)
//
// "Free GPUs on the node" before placing is the best-fit term: the smallest block that fits leaves
// the smallest remainder, and an exact fit leaves none. Spreading puts the provider count first, so a
// pool's replicas go to providers holding none of them before a second one lands anywhere; within a
// provider the fit is still the tightest. Names end every tie, so the answer is a function of the
// index's contents alone, never of insertion order.
//
// Cost: the walk visits at most (highest free count − gpus + 1) buckets per matching group, and in each
// bucket skips at most one provider per provider the pool uses, then looks at one node (or, when every
// provider there already holds the pool, at most one node per node the pool uses plus one per provider).
// None of that grows with the fleet; it grows with the pool's own replica count.
import { compareNames } from './sorted-names.js';
import type { FleetIndex } from './fleet-index.js';
import type { FreeBucket } from './free-bucket.js';
import type { PoolUsage } from './pool-usage.js';
import type { ReplicaRequest } from './types.js';

export interface Candidate {
  readonly node: string;
  readonly provider: string;
  /** Free GPUs on the node before this replica. */
  readonly freeGpus: number;
  /** Replicas of the same pool already on the node's provider / on the node. */
  readonly providerReplicas: number;
  readonly nodeReplicas: number;
}

export interface NodeChoice {
  readonly chosen: Candidate | undefined;
  /** A node had room but maxPerNode ruled it out; tells "spread constraint" from "no room". */
  readonly blockedByMaxPerNode: boolean;
}

export function chooseNode(index: FleetIndex, request: ReplicaRequest, usage: PoolUsage): NodeChoice {
  const groups = index.groupsFor(request);
  let highest = 0;
  for (const group of groups) highest = Math.max(highest, group.highestBucket);

  let best: Candidate | undefined;
  let blockedByMaxPerNode = false;
  for (let free = request.gpus; free <= highest; free++) {
    for (const group of groups) {
      const bucket = group.bucket(free);
      if (bucket === undefined || bucket.size === 0) continue;
      const found = bestInBucket(index, bucket, free, usage, request.maxPerNode);
      blockedByMaxPerNode ||= found.blockedByMaxPerNode;
      if (found.chosen !== undefined && (best === undefined || isBetter(found.chosen, best, request.spreadAcrossProviders))) {
        best = found.chosen;
      }
    }
    if (best === undefined) continue;
    // Free GPUs only grow from here. Without spreading they are the first key, so we are done; with
    // spreading only a provider holding fewer of the pool's replicas could still win, and none holds
    // fewer than zero.
    if (!request.spreadAcrossProviders || best.providerReplicas === 0) break;
  }
  return { chosen: best, blockedByMaxPerNode };
}

/** The best node among those with exactly `free` GPUs free in one group's bucket. */
function bestInBucket(
  index: FleetIndex,
  bucket: FreeBucket,
  free: number,
  usage: PoolUsage,
  maxPerNode: number | undefined,
): NodeChoice {
  // A provider without any replica of this pool has none on any of its nodes either, so its first node
  // by name is its best, and the first such provider by name beats every provider that has some.
  for (const provider of bucket.providers) {
    index.stats.entriesVisited += 1;
    if (usage.replicasByProvider.has(provider)) continue;
    const node = bucket.nodesOf(provider)?.at(0);
    if (node === undefined) continue;
    index.stats.entriesVisited += 1;
    const nodeReplicas = usage.replicasByNode.get(node) ?? 0;
    // Cannot happen while the usage counts come from this index (an unused provider's nodes hold none
    // of the pool), but if it ever did, the general walk below is always right, only slower.
    if (maxPerNode !== undefined && nodeReplicas >= maxPerNode) break;
    return {
      chosen: { node, provider, freeGpus: free, providerReplicas: 0, nodeReplicas },
      blockedByMaxPerNode: false,
    };
  }
  // Every provider here already holds some of the pool (so there are few of them). In each, the first
  // node by name holding none of the pool is that provider's best; nodes before it hold some, and the
  // pool has only so many replicas, so this loop is short.
  let best: Candidate | undefined;
  let blockedByMaxPerNode = false;
  for (const provider of bucket.providers) {
    const providerReplicas = usage.replicasByProvider.get(provider) ?? 0;
    for (const node of bucket.nodesOf(provider) ?? []) {
      index.stats.entriesVisited += 1;
      const nodeReplicas = usage.replicasByNode.get(node) ?? 0;
      if (maxPerNode !== undefined && nodeReplicas >= maxPerNode) {
        blockedByMaxPerNode = true;
        continue;
      }
      const candidate: Candidate = { node, provider, freeGpus: free, providerReplicas, nodeReplicas };
      if (best === undefined || isBetter(candidate, best, false)) best = candidate;
      if (nodeReplicas === 0) break;
    }
  }
  return { chosen: best, blockedByMaxPerNode };
}

function isBetter(a: Candidate, b: Candidate, spread: boolean): boolean {
  const keysA = spread ? [a.providerReplicas, a.freeGpus] : [a.freeGpus, a.providerReplicas];
  const keysB = spread ? [b.providerReplicas, b.freeGpus] : [b.freeGpus, b.providerReplicas];
  for (let i = 0; i < keysA.length; i++) {
    if (keysA[i] !== keysB[i]) return (keysA[i] as number) < (keysB[i] as number);
  }
  if (a.nodeReplicas !== b.nodeReplicas) return a.nodeReplicas < b.nodeReplicas;
  const byProvider = compareNames(a.provider, b.provider);
  if (byProvider !== 0) return byProvider < 0;
  return compareNames(a.node, b.node) < 0;
}
