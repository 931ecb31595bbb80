// A pod-cvm node's own evidence proves the TEE only: its GPUs are passed to the replicas' VMs, which
// attest them. The plan then expects no GPU in the node's verified evidence, and quarantines one that
// shows GPUs (GpuStateChanged) as it quarantines a node-cvm node whose evidence covered fewer than declared.
import test from 'ava';
import type { ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { planProviderNode } from '../../operator/src/controllers/providernode/plan.js';

const now = new Date('2026-11-23T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();

function plan(topology: 'node-cvm' | 'pod-cvm', attestedGpus: number) {
  const status: ProviderNodeStatus = {
    attestation: { verifiedAt: iso(-5), expiresAt: iso(3000), gpus: Array.from({ length: attestedGpus }, (_, index) => ({ index })) },
    conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-5), observedGeneration: 3 }],
  };
  return planProviderNode({
    providerNode: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', generation: 3 },
      spec: { nodeName: 'gpu-1', tee: 'sev-snp', topology, gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
      status,
    },
    node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 }, now,
    policy: { name: 'default', isDefault: true, found: true },
    replicas: [],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 },
    newNonce: () => '1'.padStart(64, '0'),
  });
}
const quarantine = (p: ReturnType<typeof plan>) => p.status.conditions?.find((c) => c.type === 'Quarantined');

test('a pod-cvm node attested without GPU evidence is not quarantined; with GPU evidence it is', (t) => {
  t.is(quarantine(plan('pod-cvm', 0))?.status, 'False');
  t.true(plan('pod-cvm', 0).marks.attestedLabel);
  t.is(quarantine(plan('pod-cvm', 8))?.reason, 'GpuStateChanged');
});

test('a node-cvm node must have had every declared GPU in its evidence', (t) => {
  t.is(quarantine(plan('node-cvm', 8))?.status, 'False');
  t.is(quarantine(plan('node-cvm', 0))?.reason, 'GpuStateChanged');
});
