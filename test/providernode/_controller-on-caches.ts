// The ProviderNode controller's reconciler on a nodeSetup node (test/attestation-service/_cluster.ts),
// reading from caches the test fills by hand, so "the informer has not shown that yet" is exact rather
// than a matter of timing; its status applies and reads are recorded (_counting-client.ts).
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodeReconciler } from '../../operator/src/controllers/providernode/reconciler.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { ReconcileResult } from '../../operator/src/kube/controller.js';
import type { EventRecorder } from '../../operator/src/kube/events.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { OwnWrites } from '../../operator/src/kube/own-writes.js';
import { Nodes, objectKey, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';
import { silentLogger } from '../../operator/src/util/log.js';
import type { NodeSetup } from '../attestation-service/_cluster.js';
import { countingClient } from './_counting-client.js';

export interface ControllerOnCaches {
  /** An unrecorded client, for the test's own reads and writes. */
  client: KubeClient;
  providerNodes: Store<ProviderNode & KubeObject>;
  nodes: Store<V1Node & KubeObject>;
  pods: Store<V1Pod & KubeObject>;
  /** The reconciler's status applies (`apply ProviderNode status`, `…: 409`) and reads, in order. */
  calls: string[];
  reconcile(): Promise<ReconcileResult | void>;
  /** Fills the ProviderNode and Node caches from the apiserver now. */
  refresh(): Promise<void>;
}

/**
 * The Node offers one GPU, as the ProviderNode declares (else the plan would quarantine it). `afterRead`
 * runs after each of the reconciler's reads from the apiserver (_counting-client.ts).
 */
export async function controllerOnCaches(s: NodeSetup, options: { ownWrites?: boolean; afterRead?: () => Promise<void> } = {}): Promise<ControllerOnCaches> {
  const client = new KubeClient(s.rest, NO_FENCE);
  await s.rest.request('PATCH', resourcePath(Nodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { capacity: { 'nvidia.com/gpu': '1' }, allocatable: { 'nvidia.com/gpu': '1' } } },
  });
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const nodes = new Store<V1Node & KubeObject>();
  const pods = new Store<V1Pod & KubeObject>();
  const policies = new Store<AttestationPolicy & KubeObject>();
  policies.put((await client.get<AttestationPolicy & KubeObject>(AttestationPolicies, s.policy))!);
  const events = { record: async () => true } as unknown as EventRecorder;
  const counted = countingClient(client, options.afterRead);
  const reconciler = new ProviderNodeReconciler({
    client: counted.client, events, config: s.config, providerNodes, nodes, pods, policies,
    ...(options.ownWrites ? { ownWrites: new OwnWrites(providerNodes) } : {}),
  });
  const refresh = async () => {
    providerNodes.put((await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!);
    nodes.put((await client.get<V1Node & KubeObject>(Nodes, s.node))!);
  };
  await refresh();
  return {
    client, providerNodes, nodes, pods, calls: counted.calls, refresh,
    reconcile: () => reconciler.reconcile(objectKey('ProviderNode', undefined, s.node), { log: silentLogger(), signal: new AbortController().signal }),
  };
}
