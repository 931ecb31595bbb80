// Placement uses the TEE the evidence proved: a ProviderNode that declares sev-snp but was attested with
// simulated evidence (a policy with allowSimulated) is a simulated node to placement, so a pool that asks
// for a hardware TEE never lands on it.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

const GPU = 'nvidia.com/gpu';

function viewWith(name: string, declared: 'sev-snp' | 'tdx', simulated: boolean | undefined): FleetView {
  const pods = new Store<KubeObject>();
  const nodes = new Store<KubeObject>();
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const view = new FleetView({ gpuResourceName: GPU });
  view.attach(providerNodes, nodes, pods);
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
