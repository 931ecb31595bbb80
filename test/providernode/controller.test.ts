// The ProviderNode controller on the real apiserver with kwok GPU nodes: the taint stays until the
// node is attested, status reports the Node's GPUs, and a second reconcile of an unchanged object
// writes nothing. The informers are scoped to this test's label, so other tests' nodes are untouched.
import test from 'ava';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

test('kwok GPU nodes keep the unattested taint until attested, and status reports their GPUs', async (t) => {
  const fx = await providerNodeRun(t);
  const { core, kc } = fx;
  const nodeName = `pn-gpu-${fx.run}`;
  await fx.createGpuNode(nodeName);
  // AttestationPolicies are cluster-scoped: this run's own, so no other test's policy is used or changed.
  const policyName = `pn-policy-${fx.run}`;
  await fx.createPolicy(policyName);
  await fx.createProviderNode(nodeName, policyName);
  const controller = fx.startController();

  const getPn = () => fx.getProviderNode(nodeName);
  const first = await eventually('a challenge and capacity in status', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge?.nonce && pn.status.capacity?.gpus === 8 ? pn : undefined;
  });
  t.is(first.status?.conditions?.find((c) => c.type === 'Attested')?.reason, 'AwaitingEvidence');
  t.regex(first.status!.attestation!.challenge!.nonce!, /^[0-9a-f]{64}$/);
  const node = await core.readNode({ name: nodeName });
  t.true((node.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED), 'taint kept until attested');
  t.is(node.metadata?.labels?.[LABEL_ATTESTED], undefined);
  // The mirrored labels (TEE, GPU model) are not written on their own while the node is not attested
  // (test/providernode/node-writes.test.ts): they arrive with the verdict's write, checked below.

  // Reconciling the unchanged object again writes nothing: the resourceVersion stays put. An annotation
  // on the Node (which the controller does not read) makes it reconcile again; the check waits for that
  // reconcile to finish, not for a fixed time, so a slow machine neither fails it nor lets it pass unrun.
  const rv = first.metadata.resourceVersion;
  const before = await controller.reconciles();
  await new RestClient(kc).request('PATCH', resourcePath(Nodes, undefined, nodeName), {
    contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'chrysalis.dev/test-touch': '1' } } },
  });
  await eventually('a reconcile after the Node changed', async () => ((await controller.reconciles()) > before ? true : undefined));
  t.is((await getPn()).metadata.resourceVersion, rv, 'no status write for an unchanged ProviderNode');
  t.is((await core.readNode({ name: nodeName })).metadata?.labels?.[LABEL_ATTESTED], undefined);

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
  t.is(attestedNode.metadata?.labels?.['chrysalis.dev/gpu-model'], 'H100');
  const pn = await eventually('Schedulable', async () => {
    const p = await getPn();
    return p.status?.conditions?.find((c) => c.type === 'Schedulable' && c.status === 'True') ? p : undefined;
  });
  t.is(pn.status?.conditions?.find((c) => c.type === 'Attested')?.status, 'True');

  // The policy (spec {}: no image allow list) reports the risk on its own status, and who uses it.
  const policy = await eventually('the policy status', async () => {
    const p = await fx.getPolicy(policyName);
    return p.status?.nodes === 1 ? p : undefined;
  });
  t.like(policy.status?.conditions?.find((c) => c.type === 'AllowsAnyImage'), { status: 'True', reason: 'NoImageAllowList' });
});
