// Placement uses the TEE the evidence proved: a ProviderNode that declares sev-snp but was attested with
// simulated evidence (a policy with allowSimulated) is a simulated node to placement, so a pool that asks
// for a hardware TEE never lands on it.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import type { Informer } from '../../operator/src/kube/informer.js';
import { cacheKeyOf, type KubeObject } from '../../operator/src/kube/resource.js';

const GPU = 'nvidia.com/gpu';

class HandFedInformer<T extends KubeObject> {
  readonly cache = new Map<string, T>();
  private readonly adds: Array<(o: T) => void> = [];
  onAdd(fn: (o: T) => void): this { this.adds.push(fn); return this; }
  onUpdate(): this { return this; }
  onDelete(): this { return this; }
  get(namespace: string | undefined, name: string): T | undefined { return this.cache.get(namespace ? `${namespace}/${name}` : name); }
  put(obj: T): void {
    this.cache.set(cacheKeyOf(obj), obj);
    for (const fn of this.adds) fn(obj);
  }
}

function viewWith(name: string, declared: 'sev-snp' | 'tdx', simulated: boolean | undefined): FleetView {
  const pods = new HandFedInformer<KubeObject>();
  const nodes = new HandFedInformer<KubeObject>();
  const providerNodes = new HandFedInformer<ProviderNode & KubeObject>();
  const view = new FleetView({ gpuResourceName: GPU });
  view.attach(providerNodes as unknown as Informer<ProviderNode & KubeObject>, nodes as unknown as Informer<KubeObject>, pods as unknown as Informer<KubeObject>);
  nodes.put({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, status: { allocatable: { [GPU]: '8' } } });
  providerNodes.put({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
    spec: { nodeName: name, tee: declared, gpus: { model: 'H100', count: 8 }, payoutAddress: '0:abc', priceCoefficient: 1000 },
    status: {
      conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }],
      attestation: { verifiedAt: '2025-01-01T00:00:00Z', expiresAt: '2099-01-01T00:00:00Z', ...(simulated === undefined ? {} : { simulated }) },
    },
  } as unknown as ProviderNode & KubeObject);
  return view;
}

test('a node attested with simulated evidence is simulated to placement whatever spec.tee declares', (t) => {
  t.is(viewWith('gpu-1', 'sev-snp', true).index.node('gpu-1')?.tee, 'simulated');
  t.is(viewWith('gpu-2', 'tdx', true).index.node('gpu-2')?.tee, 'simulated');
});

test('a node attested with hardware evidence keeps its declared TEE (the verifier refuses a declaration its evidence does not prove)', (t) => {
  t.is(viewWith('gpu-3', 'sev-snp', false).index.node('gpu-3')?.tee, 'sev-snp');
  t.is(viewWith('gpu-4', 'tdx', undefined).index.node('gpu-4')?.tee, 'tdx');
});
