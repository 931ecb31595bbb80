// Wires the InferencePool controller into a Manager: the informers it needs, the one shared FleetView
// fed by them, the reconciler, and the watches that turn changes into pool keys.
//
//   main.ts:  inferencePoolController({ manager, config })
//
// The Manager starts the informers at once and starts the controller when this process leads, after
// every watched informer (pools, Pods, Nodes, ProviderNodes) has synced, so the first plan already sees
// the whole fleet and every existing replica.
import type { InferencePool, ProviderNode } from '../../api/index.js';
import type { OperatorConfig } from '../../config.js';
import type { Controller } from '../../kube/controller.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import { Nodes, objectKey, Pods, Services, type KubeObject } from '../../kube/resource.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED, LABEL_REPLICA_ATTESTED_VALUE } from '../../marks.js';
import { ownedByPool } from './endpoint.js';
import { CustomResourceDefinitions, GIE_CRD_NAME, slimCrd } from './gateway-inference-pool.js';
import { PoolRouting } from './routing.js';
import { FleetView, poolKey } from './fleet-view.js';
import { InferencePoolReconciler } from './reconciler.js';
import { InferencePools, ProviderNodes } from '../../kube/chrysalis-resources.js';

export interface InferencePoolControllerDeps {
  manager: Manager;
  config: OperatorConfig;
  /** Concurrent pool reconciles (default 16): each spends most of its time waiting on the API. */
  workers?: number;
  /** Replica API requests in flight at once across all pools (default 32). */
  maxInFlight?: number;
  /** How long a True readiness gate without an expiry annotation is tolerated (default 30 s). */
  gateGraceMs?: number;
  now?: () => Date;
  /** How long before a recorded attestation expiry a replica loses the routing label (default 15 s). */
  labelLeadMs?: number;
  /** Re-apply a Gateway API InferencePool at least this often (default 10 min; routing.ts). */
  gatewayInferencePoolResyncMs?: number;
  /**
   * Watch the pools and Pods of this namespace only. For tests that share a cluster: a production
   * operator watches every namespace, because any Pod bound to a GPU node takes GPUs placement must see.
   */
  watchNamespace?: string;
}

export interface InferencePoolControllerParts {
  controller: Controller;
  informers: {
    pools: Informer<InferencePool & KubeObject>;
    pods: Informer<KubeObject>;
    nodes: Informer<KubeObject>;
    providerNodes: Informer<ProviderNode & KubeObject>;
    services: Informer<KubeObject>;
    crds: Informer<KubeObject>;
  };
  routing: PoolRouting;
  /** The shared fleet index and its bookkeeping (the CLI's dry run and tests read it). */
  view: FleetView;
}

export const CONTROLLER_NAME = 'inferencepool';

export function inferencePoolController(deps: InferencePoolControllerDeps): InferencePoolControllerParts {
  const { manager, config } = deps;
  const scope = deps.watchNamespace ? { namespace: deps.watchNamespace } : {};
  const pools = manager.informer<InferencePool & KubeObject>(InferencePools, scope);
  // All Pods, not only replicas: every Pod bound to a GPU node takes GPUs the engine must not offer.
  const pods = manager.informer<KubeObject>(Pods, scope);
  const nodes = manager.informer<KubeObject>(Nodes);
  const providerNodes = manager.informer<ProviderNode & KubeObject>(ProviderNodes);
  // The pools' Services (they carry the pool label), and the one CRD whose presence turns the Gateway
  // API Inference Extension's InferencePools on: watched by name, so an install or removal wakes the pools.
  const services = manager.informer<KubeObject>(Services, { ...scope, labelSelector: LABEL_POOL });
  const crds = manager.informer<KubeObject>(CustomResourceDefinitions, { fieldSelector: `metadata.name=${GIE_CRD_NAME}`, transform: slimCrd });
  const view = new FleetView({ gpuResourceName: config.gpuResourceName, logger: manager.log.child({ controller: CONTROLLER_NAME }), ...(deps.now ? { now: deps.now } : {}) });
  // The view's handlers are registered before the controller's, so a key is enqueued after the index
  // has taken the change in (the reconcile runs later anyway; this keeps the order obvious).
  view.attach(providerNodes, nodes, pods);
  const routing = new PoolRouting({
    client: manager.client, services, crds, config: config.gatewayInferenceExtension,
    hasRoutableReplica: (pool) => view.replicaPods(poolKey(pool.metadata.namespace as string, pool.metadata.name as string))
      .some((pod) => pod.metadata?.labels?.[LABEL_REPLICA_ATTESTED] === LABEL_REPLICA_ATTESTED_VALUE && ownedByPool(pod, pool)),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.gatewayInferencePoolResyncMs !== undefined ? { resyncMs: deps.gatewayInferencePoolResyncMs } : {}),
  });

  const reconciler = new InferencePoolReconciler({
    client: manager.client, events: manager.events, view, pools, config, routing,
    ...(deps.labelLeadMs !== undefined ? { labelLeadMs: deps.labelLeadMs } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.gateGraceMs !== undefined ? { gateGraceMs: deps.gateGraceMs } : {}),
    ...(deps.maxInFlight !== undefined ? { maxInFlight: deps.maxInFlight } : {}),
  });
  const controller = manager.controller({ name: CONTROLLER_NAME, reconciler, workers: deps.workers ?? 16 });
  controller.watch(pools);
  controller.watch(pods, (pod) => {
    const pool = pod.metadata?.labels?.[LABEL_POOL];
    return pool && pod.metadata?.namespace ? [objectKey('InferencePool', pod.metadata.namespace, pool)] : [];
  });
  // Nodes and ProviderNodes wake pools through the view (capacity gained, a node lost or quarantined);
  // they are watched with no keys of their own so the controller waits for their caches to sync.
  controller.watch(services, (svc) => {
    const pool = svc.metadata?.labels?.[LABEL_POOL];
    return pool && svc.metadata?.namespace ? [objectKey('InferencePool', svc.metadata.namespace, pool)] : [];
  });
  controller.watch(crds, () => {
    // Installed, upgraded or removed: what was applied is no longer known; every pool looks again.
    routing.forgetApplied();
    return pools.list().map((p) => objectKey('InferencePool', p.metadata?.namespace as string, p.metadata?.name as string));
  });
  controller.watch(nodes, () => []);
  controller.watch(providerNodes, () => []);
  view.onPoolChanged((pk) => {
    const slash = pk.indexOf('/');
    controller.enqueue(objectKey('InferencePool', pk.slice(0, slash), pk.slice(slash + 1)));
  });
  return { controller, informers: { pools, pods, nodes, providerNodes, services, crds }, routing, view };
}
