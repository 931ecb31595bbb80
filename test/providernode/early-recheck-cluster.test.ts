// Re-checks ahead of the schedule on the real apiserver. On request (the annotation): the CRD keeps the
// controller's record of the request (a field the schema did not name would be pruned, and the request
// answered at every plan), the controller's server-side apply keeps it after the verdict's write consumed
// the challenge, and one value gets exactly one challenge. On suspicion (status.attestation.replicaFailure,
// as the attestation service writes it): the host is challenged now and left alone once verified after it.
// The verdicts are written here as the attestation service writes them.
import test, { type ExecutionContext } from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../operator/src/marks.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

const attested = (pn: ProviderNode) => pn.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True') ?? false;

/**
 * A kwok GPU node, its policy and ProviderNode, and the controller running; once the first challenge is
 * out, the service's pass is written (`pass`: the challenge consumed, as service.ts writes it) and the
 * node is Attested with no challenge pending.
 */
async function attestedNode(t: ExecutionContext, prefix: string) {
  const fx = await providerNodeRun(t);
  const rest = new RestClient(fx.kc);
  const nodeName = `${prefix}-${fx.run}`;
  await fx.createGpuNode(nodeName);
  await fx.createPolicy(`${nodeName}-policy`);
  await fx.createProviderNode(nodeName, `${nodeName}-policy`);
  const controller = fx.startController();
  const getPn = () => fx.getProviderNode(nodeName);
  const attestation = (a: Record<string, unknown>) => rest.request('PATCH', resourcePath(ProviderNodes, undefined, nodeName, 'status'), { contentType: 'application/merge-patch+json', body: { status: { attestation: a } } });
  const pass = () => attestation({ challenge: null, verifiedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) });
  /** True once a reconcile made after the Node changed has finished: the node's reaction to what it shows now. */
  const reconciledAgain = async () => {
    const before = await controller.reconciles();
    await rest.request('PATCH', resourcePath(Nodes, undefined, nodeName), { contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'chrysalis.dev/test-touch': String(Date.now()) } } } });
    await eventually('a reconcile after the Node changed', async () => ((await controller.reconciles()) > before ? true : undefined));
  };
  await eventually('the first challenge', async () => ((await getPn()).status?.attestation?.challenge ? true : undefined));
  await pass();
  const settled = await eventually('Attested, with no challenge pending', async () => {
    const pn = await getPn();
    return attested(pn) && !pn.status?.attestation?.challenge ? pn : undefined;
  });
  return { fx, rest, nodeName, getPn, attestation, pass, reconciledAgain, settled };
}

test('an annotated ProviderNode is challenged once per new value, stays Attested meanwhile, and the answered value survives the verdict', async (t) => {
  const { fx, rest, nodeName, getPn, pass, reconciledAgain, settled } = await attestedNode(t, 'pn-reattest');
  const request = (value: string) => rest.request('PATCH', resourcePath(ProviderNodes, undefined, nodeName), {
    contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [ANNOTATION_REATTEST_REQUEST]: value } } },
  });
  t.is(settled.status?.attestation?.reattestRequest, undefined);

  await request('2026-12-06T10:00:00Z');
  const asked = await eventually('a challenge for the request', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge && pn.status.attestation.reattestRequest === '2026-12-06T10:00:00Z' ? pn : undefined;
  });
  t.true(attested(asked), 'the node keeps its verdict while the re-check is pending');
  const { items: events } = await fx.core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName},reason=ReattestRequested` });
  t.is(events.length, 1, 'one ReattestRequested event');

  await pass();
  const answered = await eventually('the re-check judged and its challenge gone', async () => {
    const pn = await getPn();
    return !pn.status?.attestation?.challenge && attested(pn) ? pn : undefined;
  });
  t.is(answered.status?.attestation?.reattestRequest, '2026-12-06T10:00:00Z', 'the verdict\'s write leaves the controller\'s record');

  // The same value asks for nothing more: a reconcile (made to happen by touching the Node) writes nothing.
  const rv = answered.metadata.resourceVersion;
  await reconciledAgain();
  t.is((await getPn()).metadata.resourceVersion, rv, 'no second challenge for an answered request');

  // A new value is a new request.
  await request('2026-12-06T10:05:00Z');
  await eventually('a challenge for the second request', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge && pn.status.attestation.reattestRequest === '2026-12-06T10:05:00Z' ? true : undefined;
  });
  t.pass();
});

test('a replica failure recorded on an attested host gets it challenged now, once, with a HostSuspect event', async (t) => {
  const { fx, nodeName, getPn, attestation, pass, reconciledAgain } = await attestedNode(t, 'pn-suspect');

  // The service's write for a replica whose evidence showed GPU CC off (a moment after the host's verification).
  await new Promise((r) => setTimeout(r, 10));
  await attestation({ replicaFailure: { pod: 'ml/llama-0', code: 'GPU_CC_DISABLED', at: new Date().toISOString() } });
  const suspect = await eventually('a challenge for the suspect host', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge ? pn : undefined;
  });
  t.true(attested(suspect), 'the host keeps its verdict until its own evidence is judged');
  const { items: events } = await fx.core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName},reason=HostSuspect` });
  t.is(events.length, 1);
  t.regex(events[0]!.message ?? '', /ml\/llama-0.*GPU_CC_DISABLED/);

  // Verified after the failure: nothing more is asked, and a reconcile writes nothing.
  await pass();
  const settled = await eventually('the host verified again and left alone', async () => {
    const pn = await getPn();
    return !pn.status?.attestation?.challenge ? pn : undefined;
  });
  await reconciledAgain();
  t.is((await getPn()).metadata.resourceVersion, settled.metadata.resourceVersion, 'no challenge once verified after the failure');
});
