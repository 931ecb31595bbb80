// AttestationPolicy status on the real apiserver: each policy says whether it allows any image and how
// many ProviderNodes use it, and the count follows a node that moves from one policy to another.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { providerNodeController } from '../../operator/src/controllers/providernode/controller.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
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

test('a policy without an image allow list is flagged on its status, and its node count follows policyRef changes', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const open = `open-${run}`;
  const pinned = `pinned-${run}`;
  for (const [name, spec] of [[open, {}], [pinned, { allowedImageHashes: ['ab'.repeat(32)] }]] as const) {
    await custom.createClusterCustomObject({ ...group, plural: 'attestationpolicies', body: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name, labels: { [runLabel]: run } }, spec,
    } });
    t.teardown(() => custom.deleteClusterCustomObject({ ...group, plural: 'attestationpolicies', name }).then(() => undefined, () => undefined));
  }
  const nodeName = `pn-count-${run}`;
  await custom.createClusterCustomObject({ ...group, plural: 'providernodes', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: nodeName, labels: { [runLabel]: run } },
    spec: { nodeName, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'d'.repeat(64)}`, policyRef: { name: open } },
  } });
  t.teardown(() => custom.deleteClusterCustomObject({ ...group, plural: 'providernodes', name: nodeName }).then(() => undefined, () => undefined));

  const manager = new Manager({ kubeConfig: kc, leaderElection: false, health: false });
  const selector = `${runLabel}=${run}`;
  providerNodeController(manager, DEFAULT_CONFIG, {
    providerNodes: manager.informer<ProviderNode & KubeObject>(ProviderNodes, { labelSelector: selector }),
    nodes: manager.informer<V1Node & KubeObject>(Nodes, { labelSelector: selector }),
    pods: manager.informer<V1Pod & KubeObject>(Pods, { labelSelector: `chrysalis.dev/pool,${selector}` }),
    policies: manager.informer<AttestationPolicy & KubeObject>(AttestationPolicies, { labelSelector: selector }),
  });
  void manager.run();
  t.teardown(() => manager.stop());

  const status = async (name: string) => ((await custom.getClusterCustomObject({ ...group, plural: 'attestationpolicies', name })) as AttestationPolicy).status;
  const anyImage = (s: AttestationPolicy['status']) => s?.conditions?.find((c) => c.type === 'AllowsAnyImage');
  await eventually('open policy: AllowsAnyImage=True, 1 node', async () => {
    const s = await status(open);
    return anyImage(s)?.status === 'True' && s?.nodes === 1 ? s : undefined;
  });
  await eventually('pinned policy: AllowsAnyImage=False, 0 nodes', async () => {
    const s = await status(pinned);
    return anyImage(s)?.status === 'False' && s?.nodes === 0 ? s : undefined;
  });

  await new RestClient(kc).request('PATCH', resourcePath(ProviderNodes, undefined, nodeName), {
    contentType: 'application/merge-patch+json', body: { spec: { policyRef: { name: pinned } } },
  });
  await eventually('the node counted under the pinned policy', async () => ((await status(pinned))?.nodes === 1 ? true : undefined));
  await eventually('and no longer under the open one', async () => ((await status(open))?.nodes === 0 ? true : undefined));
  t.pass();
});
