// How often the ProviderNode controller writes the Node on its way to Attested, counted from its own
// request counter on the real apiserver: a Node that registers already tainted (as the attester's setup
// has it) is not written while its challenge waits for an answer, nor when it reconciles again with
// nothing changed, and the verdict sets the attested label, the mirrored labels and lifts the taint in
// one write (and its Attested Event is recorded). At fleet scale each Node write is a full Node object
// stored and sent to every Node watcher.
import test from 'ava';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, LABEL_GPU_MODEL, LABEL_PROVIDER_NODE, LABEL_TEE, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

test('a tainted node is written once on its way to Attested: not at the challenge, not on an idempotent reconcile, once at the verdict', async (t) => {
  const fx = await providerNodeRun(t);
  const nodeName = `pn-writes-${fx.run}`;
  await fx.createGpuNode(nodeName);
  const policyName = `pn-writes-policy-${fx.run}`;
  await fx.createPolicy(policyName);
  await fx.createProviderNode(nodeName, policyName);
  const controller = fx.startController();
  const rest = new RestClient(fx.kc);
  t.teardown(() => rest.close());

  await eventually('a challenge in status', async () => ((await fx.getProviderNode(nodeName)).status?.attestation?.challenge?.nonce ? true : undefined));
  t.is(await controller.writes('nodes'), 0, 'no Node write for a node that already carries the taint');

  // The same plan again (an annotation the controller does not read wakes it): still no Node write.
  const before = await controller.reconciles();
  await rest.request('PATCH', resourcePath(Nodes, undefined, nodeName), {
    contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'chrysalis.dev/test-touch': '1' } } },
  });
  await eventually('a reconcile after the Node changed', async () => ((await controller.reconciles()) > before ? true : undefined));
  t.is(await controller.writes('nodes'), 0, 'an idempotent challenge reconcile makes no Node write');

  // The verdict: one write carries every mark.
  const now = Date.now();
  await rest.request('PATCH', resourcePath(ProviderNodes, undefined, nodeName, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { verifiedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } } },
  });
  const node = await eventually('the taint lifted', async () => {
    const n = await fx.core.readNode({ name: nodeName });
    return !(n.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED) ? n : undefined;
  });
  t.like(node.metadata?.labels, { [LABEL_ATTESTED]: 'true', [LABEL_TEE]: 'sev-snp', [LABEL_GPU_MODEL]: 'H100', [LABEL_PROVIDER_NODE]: nodeName });
  await eventually('Attested', async () => ((await fx.getProviderNode(nodeName)).status?.conditions?.find((c) => c.type === 'Attested' && c.status === 'True') ? true : undefined));
  t.is(await controller.writes('nodes'), 1, 'the attested label, the mirrored labels and the taint removal in one Node write');
  // With the labels and the taint as two writes, the second was conditioned on the Node as it was before
  // the first: always a 409, and the retry, planned from a status already Attested, had no transition
  // left to report. One write, no conflict: the Attested Event is recorded.
  const attestedEvent = await eventually('the Attested Event', async () => {
    const list = await rest.request<{ items: Array<{ reason?: string; regarding?: { kind?: string; name?: string } }> }>('GET', '/apis/events.k8s.io/v1/namespaces/default/events');
    return list.items.find((e) => e.reason === 'Attested' && e.regarding?.kind === 'ProviderNode' && e.regarding.name === nodeName);
  }, 15_000);
  t.truthy(attestedEvent);
});
