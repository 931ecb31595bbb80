// FleetView against informers the test feeds by hand: a bound Pod takes its GPUs, and the objects the
// informers cached are cut down to what the operator reads (a Pod to its names, owners, node, GPU
// requests, phase and conditions; managedFields only where the operator reads its own).
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import type { Informer } from '../../operator/src/kube/informer.js';
import { cacheKeyOf, type KubeObject } from '../../operator/src/kube/resource.js';

const GPU = 'nvidia.com/gpu';

class HandFedInformer<T extends KubeObject> {
  readonly cache = new Map<string, T>();
  private readonly adds: Array<(o: T) => void> = [];
  private readonly updates: Array<(old: T, o: T) => void> = [];
  onAdd(fn: (o: T) => void): this { this.adds.push(fn); return this; }
  onUpdate(fn: (old: T, o: T) => void): this { this.updates.push(fn); return this; }
  onDelete(): this { return this; }
  get(namespace: string | undefined, name: string): T | undefined { return this.cache.get(namespace ? `${namespace}/${name}` : name); }
  /** As the informer does: the object it caches is the one its handlers get. */
  put(obj: T): void {
    const old = this.cache.get(cacheKeyOf(obj));
    this.cache.set(cacheKeyOf(obj), obj);
    if (old) for (const fn of this.updates) fn(old, obj);
    else for (const fn of this.adds) fn(obj);
  }
}

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
  const pods = new HandFedInformer<KubeObject>();
  const nodes = new HandFedInformer<KubeObject>();
  const providerNodes = new HandFedInformer<ProviderNode & KubeObject>();
  const view = new FleetView({ gpuResourceName: GPU });
  view.attach(providerNodes as unknown as Informer<ProviderNode & KubeObject>, nodes as unknown as Informer<KubeObject>, pods as unknown as Informer<KubeObject>);
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1', managedFields }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  providerNodes.put({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', managedFields },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: { conditions: [{ type: 'Attested', status: 'True', reason: 'EvidenceVerified', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] },
  } as unknown as ProviderNode & KubeObject);
  t.is(view.index.node('gpu-1')?.gpuFree, 8);

  pods.put(pod('llama-0', undefined, 2));
  pods.put(pod('llama-0', 'gpu-1', 2)); // the binding, as an update
  pods.put(pod('llama-1', 'gpu-1', 1));
  t.is(view.index.node('gpu-1')?.gpuFree, 5);
  const { managedFields: _dropped, ...metadata } = pod('llama-1', 'gpu-1', 1).metadata ?? {};
  t.deepEqual(pods.cache.get('team/llama-1'), {
    apiVersion: 'v1', kind: 'Pod',
    metadata,
    spec: { nodeName: 'gpu-1', schedulerName: 'chrysalis', containers: [{ name: 'server', resources: { limits: { [GPU]: '1' } } }, { name: 'attester' }] },
    status: { phase: 'Running', conditions: [gate] },
  } as unknown as KubeObject);
  for (const cached of pods.cache.values()) t.false('managedFields' in (cached.metadata ?? {}));
  t.deepEqual(view.replicaPods('team/llama').map((p) => p.metadata?.name).sort(), ['llama-0', 'llama-1']);
  // Nodes keep the operator's own entries (the ProviderNode controller reads who owns
  // spec.unschedulable) and no one else's; ProviderNodes keep none.
  t.deepEqual(nodes.cache.get('gpu-1')?.metadata?.managedFields, [ours]);
  t.false('managedFields' in (providerNodes.cache.get('gpu-1')?.metadata ?? {}));
});
