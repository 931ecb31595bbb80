// FleetView against informers the test feeds by hand: a bound Pod takes its GPUs, and the Pod the
// informer cached loses its managedFields (nothing reads them; they are two thirds of a cached Pod).
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

const managedFields = [{ manager: 'chrysalis-operator', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:chrysalis.dev/pool': {} } } } }];

function pod(name: string, node: string | undefined, gpus: number): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'team', uid: `uid-${name}`, resourceVersion: '1', labels: { 'chrysalis.dev/pool': 'llama' }, managedFields },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'server', resources: { limits: { [GPU]: String(gpus) } } }] },
    status: { phase: 'Running' },
  };
}

test('a cached Pod keeps what placement reads, takes its GPUs, and drops its managedFields', (t) => {
  const pods = new HandFedInformer<KubeObject>();
  const nodes = new HandFedInformer<KubeObject>();
  const providerNodes = new HandFedInformer<ProviderNode & KubeObject>();
  const view = new FleetView({ gpuResourceName: GPU });
  view.attach(providerNodes as unknown as Informer<ProviderNode & KubeObject>, nodes as unknown as Informer<KubeObject>, pods as unknown as Informer<KubeObject>);
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1', managedFields }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  providerNodes.put({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1' },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: { conditions: [{ type: 'Attested', status: 'True', reason: 'EvidenceVerified', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] },
  } as unknown as ProviderNode & KubeObject);
  t.is(view.index.node('gpu-1')?.gpuFree, 8);

  pods.put(pod('llama-0', undefined, 2));
  pods.put(pod('llama-0', 'gpu-1', 2)); // the binding, as an update
  pods.put(pod('llama-1', 'gpu-1', 1));
  t.is(view.index.node('gpu-1')?.gpuFree, 5);
  for (const cached of pods.cache.values()) {
    t.is(cached.metadata?.managedFields, undefined);
    t.is(cached.metadata?.labels?.['chrysalis.dev/pool'], 'llama');
  }
  t.deepEqual(view.replicaPods('team/llama').map((p) => p.metadata?.name).sort(), ['llama-0', 'llama-1']);
  // Nodes keep theirs: the ProviderNode controller reads who owns spec.unschedulable.
  t.truthy(nodes.cache.get('gpu-1')?.metadata?.managedFields);
});
