// Says why a replica found no node. The constraints are peeled one at a time in a fixed order — a
// usable node at all, then GPU model, then TEE, then price, then room — and the first one that leaves
// nothing is the reason. That order goes from the fleet's state toward the pool's own settings, so the
// message names the thing a person would fix first. Everything is read from capacity-group summaries,
// never from individual nodes, so diagnosing thousands of unplaced replicas stays cheap.
import type { CapacityGroup } from './capacity-group.js';
import type { FleetIndex } from './fleet-index.js';
import type { ReplicaRequest, Unplaced, UnplacedReason } from './types.js';

export function diagnoseUnplaced(index: FleetIndex, request: ReplicaRequest, blockedByMaxPerNode: boolean): Unplaced {
  const unplaced = (reason: UnplacedReason, message: string): Unplaced => ({
    pool: request.pool,
    replicaId: request.replicaId,
    gpus: request.gpus,
    reason,
    message,
  });

  if (index.schedulableCount === 0) {
    return unplaced('NoAttestedNode', `no node is attested and schedulable (${describeUnschedulable(index)})`);
  }
  const groups = [...index.groups()];
  const wantedModels = listOf(request.gpuModels);

  const withModel = groups.filter((g) => request.gpuModels.includes(g.gpuModel));
  if (withModel.length === 0) {
    return unplaced(
      'GpuModelUnavailable',
      `no attested node has GPU model ${wantedModels}; attested nodes offer ${listOf(groups.map((g) => g.gpuModel))}`,
    );
  }
  const withTee = withModel.filter((g) => request.teeTypes.includes(g.tee));
  if (withTee.length === 0) {
    return unplaced(
      'TeeUnavailable',
      `no attested ${wantedModels} node runs TEE ${listOf(request.teeTypes)}; they run ${listOf(withModel.map((g) => g.tee))}`,
    );
  }
  const withinCap = withTee.filter((g) => g.priceCoefficient <= request.maxPriceCoefficient);
  if (withinCap.length === 0) {
    const cheapest = Math.min(...withTee.map((g) => g.priceCoefficient));
    return unplaced(
      'PriceCapExceeded',
      `the cheapest attested ${wantedModels} node with TEE ${listOf(request.teeTypes)} has price coefficient ` +
        `${cheapest}, above the cap ${request.maxPriceCoefficient}`,
    );
  }
  if (blockedByMaxPerNode) {
    return unplaced(
      'SpreadConstraint',
      `every eligible node with ${request.gpus} free GPUs already holds maxPerNode=${request.maxPerNode} replicas of ${request.pool}`,
    );
  }
  return unplaced('InsufficientGpus', describeShortage(request, withinCap));
}

function describeShortage(request: ReplicaRequest, eligible: readonly CapacityGroup[]): string {
  const largestNode = Math.max(...eligible.map((g) => g.largestNode()));
  const nodes = eligible.reduce((sum, g) => sum + g.nodeCount, 0);
  if (largestNode < request.gpus) {
    return `needs ${request.gpus} GPUs on one node, but the largest eligible node has ${largestNode} in total`;
  }
  const largestFree = Math.max(...eligible.map((g) => g.largestFreeBlock()));
  const free = eligible.reduce((sum, g) => sum + g.freeGpus, 0);
  return (
    `needs ${request.gpus} free GPUs on one node; the ${nodes} eligible nodes have ${free} GPUs free ` +
    `in total and at most ${largestFree} on any one node`
  );
}

function describeUnschedulable(index: FleetIndex): string {
  if (index.size === 0) return 'the fleet is empty';
  const { notAttested, quarantined, cordoned } = index.unschedulable;
  const parts = [`${index.size} known`];
  if (notAttested > 0) parts.push(`${notAttested} not attested`);
  if (quarantined > 0) parts.push(`${quarantined} quarantined`);
  if (cordoned > 0) parts.push(`${cordoned} cordoned`);
  return parts.join(', ');
}

/** Sorted, de-duplicated and comma-joined, so the same situation always reads the same. */
function listOf(values: Iterable<string>): string {
  const sorted = [...new Set(values)].sort();
  return sorted.length === 0 ? '(none)' : sorted.join(', ');
}
