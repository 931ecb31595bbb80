// planPlacements: decide a node for each requested replica, or say why there is none.
//
// Order. Replicas are placed largest first (first-fit-decreasing, with best fit as the "fit"), then
// those with a tighter maxPerNode, then by pool and replica id, so the result does not depend on the
// order the caller listed them in.
//
// Why this leaves no stranded GPUs when a perfect packing exists, for the common fleet: nodes of 8 GPUs,
// replicas of 1, 2, 4 or 8, every replica allowed on every node and maxPerNode not binding. Each size divides every larger one and the node size. While replicas of
// size s are being placed, everything placed so far is a multiple of s, so every node's free count is a
// multiple of s too. Then any node with free GPUs has room for an s-replica, and a replica can only fail
// if the eligible fleet has fewer than s GPUs free in total. So if total demand ≤ total free capacity,
// every replica is placed — whatever node the spread preference picked — and if demand equals capacity
// (the perfect packing), no GPU is left free at all. Placing small replicas first breaks this (eight
// 1-GPU replicas spread over eight nodes leave no room for an 8), which is what happens to a scheduler
// that takes replicas one at a time in arrival order and prefers the least allocated node.
//
// Best fit (smallest free block that fits) adds the rest: across separate plans (replicas arriving over
// time) or with sizes that do not divide each other, it keeps large free blocks whole by filling the
// smallest holes first — two 4-GPU replicas share one 8-GPU node instead of half-filling two. Spreading
// trades some of that away on purpose: a pool that asks for it gets providers it does not use yet before
// a tighter hole on a provider it does use. The divisibility argument above does not depend on which
// fitting node was picked, so within one batch of 1/2/4/8 replicas spreading costs no stranded GPUs.
//
// The plan allocates every placement in the index (the operator "assumes" them until the bindings show
// up); a caller whose binding fails gives the GPUs back with `index.release(node, gpus)`. Existing
// placements are only counted for spreading and maxPerNode: their GPUs must already be net of the
// nodes' `gpuFree`.
import { chooseNode } from './choose-node.js';
import { diagnoseUnplaced } from './diagnose.js';
import type { FleetIndex } from './fleet-index.js';
import { PoolUsageTracker } from './pool-usage.js';
import { compareNames } from './sorted-names.js';
import type { Placement, PlacementPlan, ReplicaRequest, Unplaced } from './types.js';

export function planPlacements(
  index: FleetIndex,
  existingPlacements: readonly Placement[],
  requests: readonly ReplicaRequest[],
): PlacementPlan {
  validateRequests(requests);
  const usage = new PoolUsageTracker(index, existingPlacements);
  const placements: Placement[] = [];
  const unplaced: Unplaced[] = [];

  for (const request of [...requests].sort(largestFirst)) {
    const choice = chooseNode(index, request, usage.of(request.pool));
    if (choice.chosen === undefined) {
      unplaced.push(diagnoseUnplaced(index, request, choice.blockedByMaxPerNode));
      continue;
    }
    const { node, provider } = choice.chosen;
    index.allocate(node, request.gpus);
    usage.record(request.pool, node, provider);
    placements.push({ pool: request.pool, replicaId: request.replicaId, node, gpus: request.gpus });
  }
  return { placements, unplaced };
}

function largestFirst(a: ReplicaRequest, b: ReplicaRequest): number {
  return (
    b.gpus - a.gpus ||
    perNodeLimit(a) - perNodeLimit(b) ||
    compareNames(a.pool, b.pool) ||
    compareNames(a.replicaId, b.replicaId)
  );
}

/**
 * Among replicas of one size, those with a tighter maxPerNode go first. The last free GPUs of a batch
 * sit on a few nodes; a capped pool may be unable to use them (it already has its limit there) while an
 * uncapped pool can use any of them, so the uncapped ones are the better choice to finish with.
 */
function perNodeLimit(request: ReplicaRequest): number {
  return request.maxPerNode ?? Number.MAX_SAFE_INTEGER;
}

/** Input the engine cannot place sensibly is a caller bug: say which replica and field, and stop. */
function validateRequests(requests: readonly ReplicaRequest[]): void {
  const seen = new Set<string>();
  for (const request of requests) {
    const where = `replica ${JSON.stringify(request.replicaId)} of pool ${JSON.stringify(request.pool)}`;
    if (seen.has(request.replicaId)) throw new RangeError(`${where}: replicaId appears twice in one batch`);
    seen.add(request.replicaId);
    if (!Number.isInteger(request.gpus) || request.gpus < 1) {
      throw new RangeError(`${where}: gpus must be an integer ≥ 1, got ${request.gpus}`);
    }
    if (request.maxPerNode !== undefined && (!Number.isInteger(request.maxPerNode) || request.maxPerNode < 1)) {
      throw new RangeError(`${where}: maxPerNode must be an integer ≥ 1 when set, got ${request.maxPerNode}`);
    }
  }
}
