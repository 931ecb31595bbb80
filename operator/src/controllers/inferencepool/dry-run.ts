// `chrysalis plan -f pool.yaml`: where the pool's replicas would go on the fleet as it is now, and why
// some would not go anywhere — the same engine and the same request the controller builds, without
// writing anything.
//
//   const fleet = fleetNodesFromObjects({ providerNodes, nodes, pods, gpuResourceName });
//   const { placements, unplaced, explanation } = planPoolDryRun(fleet, pool);
import type { InferencePool, ProviderNode } from '../../api/index.js';
import type { KubeObject } from '../../kube/resource.js';
import {
  FleetIndex,
  degradedCondition,
  describeUnplaced,
  planPlacements,
  type NodeCapacity,
  type Placement,
  type ReplicaRequest,
  type Unplaced,
} from '../../placement/index.js';
import { FleetView, poolKey } from './fleet-view.js';
import { desiredReplicas } from './plan.js';
import { gpusPerReplica, replicaPodName } from './pod-builder.js';

export interface DryRunResult {
  /** Replica (Pod name it would get) → node, in the order the engine decided them. */
  placements: Placement[];
  unplaced: Unplaced[];
  /** Lines for people: a summary, then one line per placement and per unplaced replica. */
  explanation: string[];
}

/**
 * The fleet as the controller sees it, from listed objects: a node is schedulable iff its ProviderNode
 * is Attested=True, not Quarantined=True, not cordoned and its Node not unschedulable; free GPUs are net
 * of the GPUs requested by Pods bound to it.
 */
export function fleetNodesFromObjects(snapshot: {
  providerNodes: Iterable<ProviderNode>;
  nodes: Iterable<KubeObject>;
  pods?: Iterable<KubeObject>;
  gpuResourceName: string;
}): NodeCapacity[] {
  const view = new FleetView({ gpuResourceName: snapshot.gpuResourceName }).load(snapshot);
  return [...view.index.nodes()];
}

/** Plans every desired replica of `pool` on `fleetNodes` (not modified: the plan runs on a copy). */
export function planPoolDryRun(fleetNodes: Iterable<NodeCapacity>, pool: InferencePool): DryRunResult {
  const namespace = pool.metadata.namespace ?? 'default';
  const name = pool.metadata.name;
  if (!name) throw new Error('the pool has no metadata.name');
  const index = new FleetIndex(fleetNodes);
  const models = new Set<string>();
  for (const group of index.groups()) models.add(group.gpuModel);
  const desired = desiredReplicas(pool);
  const requests: ReplicaRequest[] = Array.from({ length: desired }, (_, i) => ({
    pool: poolKey(namespace, name),
    replicaId: replicaPodName(name, i),
    gpus: gpusPerReplica(pool),
    gpuModels: pool.spec.gpuModels?.length ? pool.spec.gpuModels : [...models],
    teeTypes: pool.spec.tee?.types ?? ['sev-snp', 'tdx'],
    maxPriceCoefficient: pool.spec.maxPriceCoefficient ?? Number.MAX_SAFE_INTEGER,
    spreadAcrossProviders: pool.spec.placement?.spreadAcrossProviders ?? true,
    ...(pool.spec.placement?.maxPerNode !== undefined ? { maxPerNode: pool.spec.placement.maxPerNode } : {}),
  }));
  const plan = planPlacements(index, [], requests);
  const degraded = degradedCondition(plan.unplaced, desired);
  const explanation = [
    `${namespace}/${name}: ${plan.placements.length} of ${desired} replicas placed (${gpusPerReplica(pool)} GPUs each); ${degraded.message}`,
    ...plan.placements.map((p) => `${p.replicaId} → ${p.node} (provider ${index.node(p.node)?.provider ?? 'unknown'}, ${index.node(p.node)?.tee ?? '?'})`),
    ...plan.unplaced.map(describeUnplaced),
  ];
  return { placements: [...plan.placements], unplaced: [...plan.unplaced], explanation };
}
