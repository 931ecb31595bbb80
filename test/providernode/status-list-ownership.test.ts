// The lists in ProviderNode status that one writer writes whole — the attestation service's GPU records,
// replica keys and replica challenges, metering's usage, payees and cursors — are atomic lists: their
// writer's managedFields entry names each list once. As keyed (map) lists, managedFields named every item
// and every field of it, one entry per writer: 6.9 of a 15 KB ProviderNode hosting four replicas in the
// chaos bench at 2,000 nodes, which kube-apiserver decodes, merges and re-encodes on every status write
// (docs/BENCHMARKS.md, "What a ProviderNode status write costs").
//
// Against the real apiserver with the real service and the real metering, as test/providernode/
// status-ownership.test.ts sets them up.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { ATTESTER_SA, boundToken, getProviderNode, HOST_CLAIMS, nodeSetup, podOn, podToken, post, service, until } from '../attestation-service/_cluster.js';
import { testCluster } from '../cluster/index.js';
import { providerNodeCrdVariant } from './_keyed-lists.js';
import { replicaKey, report, sandboxAccount, signReport } from '../settlementaccount/_usage.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [{ index: 0, model: 'H100', ccMode: 'on' }] } };

/** Every key of a managedFields fieldsV1 tree, at any depth. */
function fieldKeys(tree: unknown): string[] {
  if (!tree || typeof tree !== 'object') return [];
  return Object.entries(tree as Record<string, unknown>).flatMap(([k, v]) => [k, ...fieldKeys(v)]);
}

test('the service and metering own each status list they write as one field, never item by item', async (t) => {
  const s = await nodeSetup(t);
  const client = new KubeClient(s.rest, NO_FENCE);
  // The replica's pool (podOn creates it) bills this account.
  await sandboxAccount(client, s.tenantNs);
  const svc = service(s, () => passed);
  // The node's verdict (its GPU records), a replica's challenge and key, one usage report folded.
  const nodeToken = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const answer = await post(svc, '/v1/evidence', nodeToken, {
    subject: { kind: 'node', nodeName: s.node }, nonce: s.nonce, publicKey: 'ef'.repeat(32),
    cpu: { type: 'sev-snp', report: Buffer.alloc(1184).toString('base64') }, gpus: [],
  });
  t.true((answer.body as { verified?: boolean }).verified, JSON.stringify(answer.body));
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const key = replicaKey(17);
  // The replica's challenge, then its evidence binding the key its usage reports are signed with.
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };
  const podBearer = await podToken(s.rest, pod);
  const challenge = await post(svc, '/v1/challenge', podBearer, { subject });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
  const evidence = await post(svc, '/v1/evidence', podBearer, {
    subject, nonce: (challenge.body as { nonce: string }).nonce, publicKey: key.publicKey.toString('hex'),
    cpu: { type: 'sev-snp', report: Buffer.alloc(1184).toString('base64') }, gpus: [],
  });
  t.true((evidence.body as { verified?: boolean }).verified, JSON.stringify(evidence.body));
  const meteringCache = new Store<ProviderNode & KubeObject>();
  meteringCache.put((await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!);
  const folded = await new UsageIngest({ client, providerNodes: meteringCache })
    .ingest(signReport(key, report({ namespace: s.tenantNs, pod: 'llm-0', sequence: 1, prompt: 10, gen: 0 })));
  t.true(folded.accepted, JSON.stringify(folded, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));

  const pn = await getProviderNode(s.rest, s.node);
  t.is(pn.status?.attestation?.gpus?.length, 1);
  t.is(pn.status?.attestedReplicas?.length, 1);
  t.is(pn.status?.usageCursors?.length, 1);
  t.is(pn.status?.usage?.[0]?.payees?.length, 1);
  const managed = (manager: string) => (pn as ProviderNode & KubeObject).metadata.managedFields!
    .filter((f) => f.manager === manager && f.subresource === 'status')
    .map((f) => f.fieldsV1 as { 'f:status': Record<string, Record<string, unknown>> });
  const serviceFields = managed('chrysalis-attestation-service');
  const meteringFields = managed('chrysalis-metering');
  t.is(serviceFields.length, 1);
  t.is(meteringFields.length, 1);
  // Each list is one leaf of its writer's entry…
  t.deepEqual(serviceFields[0]!['f:status']['f:attestation']!['f:gpus'], {});
  t.deepEqual(serviceFields[0]!['f:status']['f:attestedReplicas'], {});
  t.deepEqual(serviceFields[0]!['f:status']['f:replicaChallenges'], {});
  t.deepEqual(meteringFields[0]!['f:status']['f:usage'], {});
  t.deepEqual(meteringFields[0]!['f:status']['f:usageCursors'], {});
  // …and no entry of either names a list item (`k:{…}`, a keyed list's item).
  t.deepEqual([...fieldKeys(serviceFields), ...fieldKeys(meteringFields)].filter((k) => k.startsWith('k:')), []);
});

test('an object written under the keyed lists keeps its data through the CRD upgrade, and its writer\'s next write owns each list whole', async (t) => {
  // The CRD under a group of this test's own (a variant never replaces the CRD other tests use).
  const group = `upgrade-${randomBytes(3).toString('hex')}.chrysalis.dev`;
  const cluster = await testCluster();
  const rest = new RestClient(cluster.kubeConfig(), { qps: 100, burst: 200, userAgent: 'chrysalis-tests' });
  t.teardown(() => rest.close());
  const crds = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const crdName = `providernodes.${group}`;
  const applyCrd = async (keyed: boolean) => {
    await rest.request('PATCH', `${crds}/${crdName}`, {
      contentType: 'application/apply-patch+yaml', query: { fieldManager: 'chrysalis-tests', force: 'true' },
      body: providerNodeCrdVariant(group, keyed),
    });
    await until('the CRD established', async () => {
      const crd = await rest.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `${crds}/${crdName}`);
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  };
  t.teardown(() => rest.request('DELETE', `${crds}/${crdName}`).catch(() => undefined));
  await applyCrd(true);
  const objects = `/apis/${group}/v1alpha1/providernodes`;
  await until('the kind served', () => rest.request('GET', objects).then(() => true));
  await rest.request('POST', objects, { body: {
    apiVersion: `${group}/v1alpha1`, kind: 'ProviderNode', metadata: { name: 'host' },
    spec: { nodeName: 'host', tee: 'simulated', gpus: { model: 'H100', count: 2, ccMode: 'on' }, payoutAddress: `0:${'ab'.repeat(32)}`, priceCoefficient: 1000 },
  } });
  const key = (pod: string, publicKey: string) => ({ namespace: 'tenant', pod, uid: `uid-${pod}`, publicKey: publicKey.repeat(32), expiresAt: '2026-12-06T12:00:00Z' });
  const gpus = [{ index: 0, model: 'H100', ccMode: 'on' }, { index: 1, model: 'H100', ccMode: 'on' }];
  type Written = { metadata: { managedFields: Array<{ manager: string; fieldsV1: unknown }> }; status: Record<string, unknown> };
  const write = (status: Record<string, unknown>) => rest.request<Written>('PATCH', `${objects}/host/status`, {
    contentType: 'application/merge-patch+json', query: { fieldManager: 'chrysalis-attestation-service' }, body: { status },
  });
  const itemKeys = (o: Written) => fieldKeys(o.metadata.managedFields.filter((f) => f.manager === 'chrysalis-attestation-service').map((f) => f.fieldsV1)).filter((k) => k.startsWith('k:'));
  const before = await write({ attestation: { gpus }, attestedReplicas: [key('a', 'ab'), key('b', 'cd')] });
  t.true(itemKeys(before).length > 0, 'the keyed CRD named each item');

  await applyCrd(false);
  // Written again by its writer under the atomic lists (retried while the apiserver still serves the old schema).
  const after = await until('a write under the atomic lists', async () => {
    const o = await write({ attestedReplicas: [key('a', 'ef')] });
    return itemKeys(o).length === 0 ? o : undefined;
  });
  t.deepEqual(after.status.attestation, { gpus }, 'the list the write did not touch is kept');
  t.deepEqual(after.status.attestedReplicas, [key('a', 'ef')]);
});
