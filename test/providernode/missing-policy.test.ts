// A ProviderNode whose policyRef is misspelt, on the real apiserver: the controller issues no challenge
// (so no attester can get evidence verified against an empty policy), a verdict written anyway does not
// attest the node, and Attested says PolicyNotFound with the ref. Creating the policy starts attestation.
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
const group = { group: 'chrysalis.dev', version: 'v1alpha1' };

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a node whose policyRef is misspelt is not attested until the policy it names exists', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const nodeName = `pn-nopolicy-${run}`;
  const policyName = `strcit-${run}`; // the operator meant "strict-…"; no policy of this name exists
  await core.createNode({ body: {
    metadata: { name: nodeName, labels: { type: 'kwok', [runLabel]: run } },
    spec: { taints: [{ key: TAINT_UNATTESTED, value: 'true', effect: 'NoSchedule' }] },
    status: { capacity: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' }, allocatable: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' } },
  } });
  t.teardown(() => core.deleteNode({ name: nodeName }).then(() => undefined, () => undefined));
  await custom.createClusterCustomObject({ ...group, plural: 'providernodes', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name: nodeName, labels: { [runLabel]: run } },
    spec: { nodeName, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'c'.repeat(64)}`, policyRef: { name: policyName } },
  } });
  t.teardown(() => custom.deleteClusterCustomObject({ ...group, plural: 'providernodes', name: nodeName }).then(() => undefined, () => undefined));
  t.teardown(() => custom.deleteClusterCustomObject({ ...group, plural: 'attestationpolicies', name: policyName }).then(() => undefined, () => undefined));

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

  const getPn = async () => (await custom.getClusterCustomObject({ ...group, plural: 'providernodes', name: nodeName })) as ProviderNode;
  const attestedCondition = (pn: ProviderNode) => pn.status?.conditions?.find((c) => c.type === 'Attested');
  const missing = await eventually('Attested=False PolicyNotFound', async () => {
    const pn = await getPn();
    return attestedCondition(pn)?.reason === 'PolicyNotFound' ? pn : undefined;
  });
  t.is(attestedCondition(missing)?.status, 'False');
  t.regex(attestedCondition(missing)?.message ?? '', new RegExp(`spec\\.policyRef\\.name "${policyName}" names no AttestationPolicy`));
  t.is(missing.status?.attestation?.challenge, undefined, 'no challenge for an attester to answer');

  const node = await core.readNode({ name: nodeName });
  t.true((node.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED), 'the unattested taint stays');

  // The policy appears: its informer event re-queues the node, which is challenged.
  await custom.createClusterCustomObject({ ...group, plural: 'attestationpolicies', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: policyName, labels: { [runLabel]: run } }, spec: {},
  } });
  const challenged = await eventually('a challenge once the policy exists', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge?.nonce ? pn : undefined;
  });
  t.is(attestedCondition(challenged)?.reason, 'AwaitingEvidence');

  // A verdict (as the attestation service records it) attests the node …
  const now = Date.now();
  await new RestClient(kc).request('PATCH', resourcePath(ProviderNodes, undefined, nodeName, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { challenge: null, verifiedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } } },
  });
  await eventually('the attested label', async () => {
    const n = await core.readNode({ name: nodeName });
    return n.metadata?.labels?.[LABEL_ATTESTED] === 'true' ? n : undefined;
  });

  // … and deleting the policy takes the attestation away at once, fresh verdict or not.
  await custom.deleteClusterCustomObject({ ...group, plural: 'attestationpolicies', name: policyName });
  const lost = await eventually('Attested=False PolicyNotFound after the policy is deleted', async () => {
    const pn = await getPn();
    return attestedCondition(pn)?.reason === 'PolicyNotFound' ? pn : undefined;
  });
  t.is(lost.status?.conditions?.find((c) => c.type === 'Schedulable')?.status, 'False');
  await eventually('the unattested taint back', async () => {
    const n = await core.readNode({ name: nodeName });
    return (n.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED) && n.metadata?.labels?.[LABEL_ATTESTED] === undefined ? n : undefined;
  });
});
