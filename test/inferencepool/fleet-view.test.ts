// FleetView over the operator's caches, fed by hand: a bound Pod takes its GPUs, and the objects the
// caches keep are cut down by the transforms the Manager gives the operator's informers (a Pod to its
// names, owners, node, GPU requests, phase and conditions; managedFields only where the operator reads
// its own).
import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import { cachedShapeOf } from '../../operator/src/kube/cached-shape.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { Nodes, Pods, type KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

const GPU = 'nvidia.com/gpu';

const ours = { manager: 'chrysalis-operator', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:unschedulable': {} } } };
const kwoks = { manager: 'kwok', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {} } } };
const managedFields = [ours, kwoks];
const gate = { type: 'chrysalis.dev/attested', status: 'True', reason: 'Verified', lastTransitionTime: '2025-01-01T00:00:00Z' };

function pod(name: string, node: string | undefined, gpus: number): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'team', uid: `uid-${name}`, resourceVersion: '1', labels: { 'chrysalis.dev/pool': 'llama' },
      annotations: { 'chrysalis.dev/attestation-expires': '2025-01-01T01:00:00Z' },
      ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llama', uid: 'uid-llama', controller: true }],
      managedFields,
    },
    spec: {
      ...(node ? { nodeName: node } : {}), schedulerName: 'chrysalis',
      containers: [{ name: 'server', image: 'vllm', env: [{ name: 'CHRYSALIS_MODEL_HASH', value: 'ab' }], resources: { limits: { [GPU]: String(gpus) } } }, { name: 'attester', image: 'attester' }],
      volumes: [{ name: 'tmp', emptyDir: {} }],
      securityContext: { runAsNonRoot: true },
    },
    status: { phase: 'Running', conditions: [gate], containerStatuses: [{ name: 'server', ready: true }], podIP: '10.0.0.1' },
  };
}

test('a cached Pod keeps what the operator reads, takes its GPUs, and drops the rest', (t) => {
  const pods = new Store<KubeObject>({ transform: cachedShapeOf(Pods) });
  const nodes = new Store<KubeObject>({ transform: cachedShapeOf(Nodes) });
  const providerNodes = new Store<ProviderNode & KubeObject>({ transform: cachedShapeOf(ProviderNodes) });
  const view = new FleetView({ gpuResourceName: GPU });
  view.attach(providerNodes, nodes, pods);
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1', managedFields }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  providerNodes.put({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', managedFields },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: {
      conditions: [{ type: 'Attested', status: 'True', reason: 'EvidenceVerified', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }],
      attestation: { verifiedAt: '2025-01-01T00:00:00Z', expiresAt: '2099-01-01T00:00:00Z' },
    },
  } as unknown as ProviderNode & KubeObject);
  t.is(view.index.node('gpu-1')?.gpuFree, 8);

  pods.put(pod('llama-0', undefined, 2));
  pods.put(pod('llama-0', 'gpu-1', 2)); // the binding, as an update
  pods.put(pod('llama-1', 'gpu-1', 1));
  t.is(view.index.node('gpu-1')?.gpuFree, 5);
  // No managedFields or annotations (no reader reads them), and only the containers that request resources.
  const { managedFields: _dropped, annotations: _unread, ...metadata } = pod('llama-1', 'gpu-1', 1).metadata ?? {};
  t.deepEqual(pods.get('team', 'llama-1'), {
    apiVersion: 'v1', kind: 'Pod',
    metadata,
    spec: { nodeName: 'gpu-1', containers: [{ resources: { limits: { [GPU]: '1' } } }] },
    status: { phase: 'Running', conditions: [gate] },
  } as unknown as KubeObject);
  for (const cached of pods.list()) t.false('managedFields' in (cached.metadata ?? {}));
  t.deepEqual(view.replicaPods('team/llama').map((p) => p.metadata?.name).sort(), ['llama-0', 'llama-1']);
  // Nodes keep the operator's own entries (the ProviderNode controller reads who owns
  // spec.unschedulable) and no one else's; ProviderNodes keep none.
  t.deepEqual(nodes.get(undefined, 'gpu-1')?.metadata?.managedFields, [ours]);
  t.false('managedFields' in (providerNodes.get(undefined, 'gpu-1')?.metadata ?? {}));
});

function fleet() {
  const pods = new Store<KubeObject>({ transform: cachedShapeOf(Pods) });
  const nodes = new Store<KubeObject>({ transform: cachedShapeOf(Nodes) });
  const providerNodes = new Store<ProviderNode & KubeObject>({ transform: cachedShapeOf(ProviderNodes) });
  const view = new FleetView({ gpuResourceName: GPU });
  const woken: string[] = [];
  view.attach(providerNodes, nodes, pods).onPoolChanged((p) => woken.push(p));
  const providerNode = (name: string, node: string, conditions = [{ type: 'Attested', status: 'True' }]) => ({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
    spec: { nodeName: node, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: {
      conditions: conditions.map((c) => ({ ...c, reason: 'R', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' })),
      attestation: { verifiedAt: '2025-01-01T00:00:00Z', expiresAt: '2099-01-01T00:00:00Z' },
    },
  } as unknown as ProviderNode & KubeObject);
  for (const n of ['gpu-1', 'gpu-2']) nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: n }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  return { pods, nodes, providerNodes, view, woken, providerNode };
}

test('a ProviderNode that names another Node leaves the first one unplaceable and makes the second placeable', (t) => {
  const { providerNodes, view, providerNode } = fleet();
  providerNodes.put(providerNode('host', 'gpu-1'));
  t.truthy(view.index.node('gpu-1'));
  t.is(view.index.node('gpu-2'), undefined);
  providerNodes.put(providerNode('host', 'gpu-2'));
  t.is(view.index.node('gpu-1'), undefined);
  t.is(view.index.node('gpu-2')?.gpuFree, 8);
  t.is(view.nodeHealth('gpu-1'), 'gone');
  providerNodes.remove(providerNode('host', 'gpu-2'));
  t.is(view.index.node('gpu-2'), undefined);
});

test('two ProviderNodes naming one Node take it out of placement until one of them goes', (t) => {
  const { providerNodes, view, providerNode } = fleet();
  providerNodes.put(providerNode('a', 'gpu-1'));
  providerNodes.put(providerNode('b', 'gpu-1'));
  t.is(view.index.node('gpu-1'), undefined);
  providerNodes.remove(providerNode('b', 'gpu-1'));
  t.is(view.index.node('gpu-1')?.gpuFree, 8);
});

test('a finished or deleted Pod gives its GPUs back, and a Pod being deleted still holds them', (t) => {
  const { pods, providerNodes, view, providerNode } = fleet();
  providerNodes.put(providerNode('host', 'gpu-1'));
  pods.put(pod('llama-0', 'gpu-1', 2));
  pods.put(pod('llama-1', 'gpu-1', 3));
  t.is(view.index.node('gpu-1')?.gpuFree, 3);
  const deleting = pod('llama-0', 'gpu-1', 2);
  (deleting.metadata as { deletionTimestamp?: string }).deletionTimestamp = '2025-01-01T00:00:00Z';
  pods.put(deleting);
  t.is(view.index.node('gpu-1')?.gpuFree, 3);
  pods.remove(pod('llama-0', 'gpu-1', 2));
  t.is(view.index.node('gpu-1')?.gpuFree, 5);
  const finished = pod('llama-1', 'gpu-1', 3);
  (finished.status as { phase: string }).phase = 'Succeeded';
  pods.put(finished);
  t.is(view.index.node('gpu-1')?.gpuFree, 8);
  t.deepEqual(view.replicaPods('team/llama').map((p) => p.metadata?.name), ['llama-1']);
});

test('a quarantined node wakes the pools with replicas or assumed replicas on it, and no other pool', (t) => {
  const { pods, providerNodes, view, woken, providerNode } = fleet();
  providerNodes.put(providerNode('host-1', 'gpu-1'));
  providerNodes.put(providerNode('host-2', 'gpu-2'));
  pods.put(pod('llama-0', 'gpu-1', 1));
  view.assume({ pool: 'team/mistral', namespace: 'team', name: 'mistral-0', node: 'gpu-1', gpus: 1, tee: 'sev-snp' });
  view.assume({ pool: 'team/other', namespace: 'team', name: 'other-0', node: 'gpu-2', gpus: 1, tee: 'sev-snp' });
  woken.length = 0;
  providerNodes.put(providerNode('host-1', 'gpu-1', [{ type: 'Attested', status: 'True' }, { type: 'Quarantined', status: 'True' }]));
  t.is(view.nodeHealth('gpu-1'), 'quarantined');
  t.deepEqual([...new Set(woken)].sort(), ['team/llama', 'team/mistral']);
  view.unassume('team', 'mistral-0');
  t.is(view.index.node('gpu-1')?.gpuFree, 7);
});

test('a node counts as attested only while its attestation is unexpired, whatever its Attested condition still says', (t) => {
  const now = new Date('2026-12-05T12:00:00Z');
  const view = new FleetView({ gpuResourceName: GPU, now: () => now });
  t.teardown(() => view.close());
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const nodes = new Store<KubeObject>();
  view.attach(providerNodes, nodes, new Store<KubeObject>());
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1' }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  const host = (attestation: Record<string, string> | undefined) => ({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'host' },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    // The condition as the ProviderNode controller last wrote it: it has not reconciled since the expiry.
    status: { conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2026-12-05T11:00:00Z' }], ...(attestation ? { attestation } : {}) },
  } as unknown as ProviderNode & KubeObject);
  providerNodes.put(host({ verifiedAt: '2026-12-05T11:00:00Z', expiresAt: '2026-12-05T12:10:00Z' }));
  t.true(view.index.node('gpu-1')?.attested);
  providerNodes.put(host({ verifiedAt: '2026-12-05T10:00:00Z', expiresAt: '2026-12-05T11:59:59Z' }));
  t.false(view.index.node('gpu-1')?.attested, 'expired');
  providerNodes.put(host(undefined));
  t.false(view.index.node('gpu-1')?.attested, 'no verdict recorded');
  providerNodes.put(host({ verifiedAt: '2026-12-05T11:00:00Z', expiresAt: 'soon' }));
  t.false(view.index.node('gpu-1')?.attested, 'an expiry that does not parse');
});

test('a node stops being placeable when its attestation expires, with no event to tell the view, and its waiting pools are not woken', async (t) => {
  const view = new FleetView({ gpuResourceName: GPU });
  t.teardown(() => view.close());
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const nodes = new Store<KubeObject>();
  view.attach(providerNodes, nodes, new Store<KubeObject>());
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1' }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  const expiresAt = new Date(Date.now() + 150).toISOString();
  providerNodes.put({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'host' },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: { conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2026-12-05T11:00:00Z' }], attestation: { verifiedAt: new Date().toISOString(), expiresAt } },
  } as unknown as ProviderNode & KubeObject);
  t.true(view.index.node('gpu-1')?.attested);
  const woken: string[] = [];
  view.onPoolChanged((p) => woken.push(p));
  view.setWaiting('team/llama', true);
  await new Promise((r) => setTimeout(r, 400));
  t.false(view.index.node('gpu-1')?.attested, `still attested after its expiry at ${expiresAt}`);
  t.deepEqual(woken, [], 'capacity lost wakes no waiting pool');
});

test('the operator\'s informers cache Pods, Nodes and ProviderNodes in that shape, and one cache never takes two shapes', (t) => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  const manager = new Manager({ kubeConfig, leaderElection: false, health: false });
  t.teardown(() => manager.rest.close());
  const pods = manager.informer<KubeObject>(Pods);
  t.is(pods.transform, cachedShapeOf(Pods));
  t.is(manager.informer<KubeObject>(Nodes).transform, cachedShapeOf(Nodes));
  t.is(manager.informer<KubeObject>(ProviderNodes).transform, cachedShapeOf(ProviderNodes));
  t.is(manager.informer<KubeObject>(Pods), pods, 'shared');
  t.throws(() => manager.informer<KubeObject>(Pods, { transform: (o) => o }), { message: /already caches another shape/ });
});
