// The ProviderNode controller on the real apiserver with kwok GPU nodes: the taint stays until the
// node is attested, status reports the Node's GPUs, and a second reconcile of an unchanged object
// writes nothing. The informers are scoped to this test's label, so other tests' nodes are untouched.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { providerNodeController } from '../../operator/src/controllers/providernode/controller.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { testCluster } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';

const run = randomBytes(3).toString('hex');
const runLabel = 'chrysalis.dev/test-run';

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('kwok GPU nodes keep the unattested taint until attested, and status reports their GPUs', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const nodeName = `pn-gpu-${run}`;
  await core.createNode({ body: {
    metadata: { name: nodeName, labels: { type: 'kwok', [runLabel]: run } },
    spec: { taints: [{ key: TAINT_UNATTESTED, value: 'true', effect: 'NoSchedule' }] },
    status: { capacity: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' }, allocatable: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' } },
  } });
  t.teardown(() => core.deleteNode({ name: nodeName }).then(() => undefined, () => undefined));
  // AttestationPolicies are cluster-scoped: this run's own, so no other test's policy is used or changed.
  const policyName = `pn-policy-${run}`;
  await custom.createClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'attestationpolicies', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: policyName, labels: { [runLabel]: run } }, spec: {},
  } });
  t.teardown(() => custom.deleteClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'attestationpolicies', name: policyName }).then(() => undefined, () => undefined));
  await custom.createClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name: nodeName, labels: { [runLabel]: run } },
    spec: { nodeName, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'b'.repeat(64)}`, policyRef: { name: policyName } },
  } });
  t.teardown(() => custom.deleteClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', name: nodeName }).then(() => undefined, () => undefined));

  const manager = new Manager({ kubeConfig: kc, leaderElection: false, health: false });
  const selector = `${runLabel}=${run}`;
  providerNodeController(manager, DEFAULT_CONFIG, {
    providerNodes: manager.informer<ProviderNode & KubeObject>(ProviderNodes, { labelSelector: selector }),
    nodes: manager.informer<V1Node & KubeObject>(Nodes, { labelSelector: selector }),
    pods: manager.informer<V1Pod & KubeObject>(Pods, { labelSelector: `chrysalis.dev/pool,${selector}` }),
    // Scoped too: the controller also writes the status of every policy it watches, and another test's
    // operator counts other nodes.
    policies: manager.informer<AttestationPolicy & KubeObject>(AttestationPolicies, { labelSelector: selector }),
  });
  void manager.run();
  t.teardown(() => manager.stop());

  const getPn = async () => (await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', name: nodeName })) as ProviderNode;
  const first = await eventually('a challenge and capacity in status', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge?.nonce && pn.status.capacity?.gpus === 8 ? pn : undefined;
  });
  t.is(first.status?.conditions?.find((c) => c.type === 'Attested')?.reason, 'AwaitingEvidence');
  t.regex(first.status!.attestation!.challenge!.nonce!, /^[0-9a-f]{64}$/);
  const node = await core.readNode({ name: nodeName });
  t.true((node.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED), 'taint kept until attested');
  t.is(node.metadata?.labels?.[LABEL_ATTESTED], undefined);
  t.is(node.metadata?.labels?.['chrysalis.dev/gpu-model'], 'H100');

  // Reconciling the unchanged object again writes nothing: the resourceVersion stays put.
  const rv = first.metadata.resourceVersion;
  const nodeRv = (await core.readNode({ name: nodeName })).metadata?.resourceVersion;
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await getPn()).metadata.resourceVersion, rv, 'no status write for an unchanged ProviderNode');
  t.is((await core.readNode({ name: nodeName })).metadata?.labels?.[LABEL_ATTESTED], undefined);
  void nodeRv;

  // A verdict recorded by the attestation service lifts the taint and sets the label.
  const now = Date.now();
  await new RestClient(kc).request('PATCH', resourcePath(ProviderNodes, undefined, nodeName, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { verifiedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } } },
  });
  const attestedNode = await eventually('the taint lifted', async () => {
    const n = await core.readNode({ name: nodeName });
    return !(n.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED) ? n : undefined;
  });
  t.is(attestedNode.metadata?.labels?.[LABEL_ATTESTED], 'true');
  const pn = await eventually('Schedulable', async () => {
    const p = await getPn();
    return p.status?.conditions?.find((c) => c.type === 'Schedulable' && c.status === 'True') ? p : undefined;
  });
  t.is(pn.status?.conditions?.find((c) => c.type === 'Attested')?.status, 'True');

  // The policy (spec {}: no image allow list) reports the risk on its own status, and who uses it.
  const policy = await eventually('the policy status', async () => {
    const p = (await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'attestationpolicies', name: policyName })) as AttestationPolicy;
    return p.status?.nodes === 1 ? p : undefined;
  });
  t.like(policy.status?.conditions?.find((c) => c.type === 'AllowsAnyImage'), { status: 'True', reason: 'NoImageAllowList' });
});
