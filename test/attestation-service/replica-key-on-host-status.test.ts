// Finding (write side): a replica's usage-signing key and its expiry were written to Pod annotations,
// which anyone who may patch Pods in the namespace can replace with a key of their own. The service now
// records them in the host ProviderNode's status.attestedReplicas (the status subresource, which users
// are not granted), for the Pod's uid, and removes them when a verdict fails; entries of Pods that are
// gone are pruned when the list is written and needs the room (this host declares one GPU), and at the
// latest when they expire. Against the real apiserver with real bound tokens.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { attestedReplicaKey } from '../../operator/src/attestation/service/replica-keys.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { getProviderNode, nodeSetup, podOn, podToken, post, service, until, type NodeSetup, HOST_CLAIMS } from './_cluster.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } };
const rejected: VerifyOutcome = { verified: false, reasons: [{ code: 'BINDING_MISMATCH', message: 'test' }], claims: { simulated: false, gpus: [] } };

/** Challenge and evidence for `pod` through the service, as its sidecar would; the verdict is the verifier's. */
async function attest(s: NodeSetup, verdict: () => VerifyOutcome, pod: V1Pod, publicKey = randomBytes(32).toString('hex')) {
  const svc = service(s, verdict);
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! };
  // A Pod just created may still be changing (its status); the service answers 503 and the sidecar retries.
  const challenge = await until('a challenge', async () => {
    const c = await post(svc, '/v1/challenge', token, { subject });
    if (c.status === 503) return undefined;
    return c;
  });
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  const nonce = (challenge.body as { nonce: string }).nonce;
  const r = await post(svc, '/v1/evidence', token, { subject, nonce, publicKey, cpu: { type: 'sev-snp', report: randomBytes(1184).toString('base64') }, gpus: [] });
  if (r.status !== 200) throw new Error(`evidence: ${r.status} ${JSON.stringify(r.body)}`);
  return { publicKey, response: r.body as { verified: boolean; expiresAt?: string } };
}

const getPod = (s: NodeSetup, pod: V1Pod) => s.rest.request<V1Pod>('GET', resourcePath(Pods, pod.metadata!.namespace, pod.metadata!.name));

test('a passing replica verdict binds its key on the host ProviderNode status, not on Pod annotations a tenant can patch', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const { publicKey, response } = await attest(s, () => passed, pod);
  t.true(response.verified);
  const pn = await getProviderNode(s.rest, s.node);
  t.deepEqual(pn.status?.attestedReplicas, [{ namespace: s.tenantNs, pod: 'llm-0', uid: pod.metadata!.uid!, publicKey, expiresAt: response.expiresAt! }]);
  const after = await getPod(s, pod);
  t.deepEqual(attestedReplicaKey(pn, after, new Date()), { publicKey, expiresAt: new Date(response.expiresAt!) });
  const annotations = after.metadata?.annotations ?? {};
  t.false('chrysalis.dev/attestation-key' in annotations, 'no key in Pod metadata');
  t.false('chrysalis.dev/attestation-expires' in annotations, 'no expiry in Pod metadata');

  // A tenant who may patch Pods writes its own key where the old code kept it: nothing reads it.
  await s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, 'llm-0'), {
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { 'chrysalis.dev/attestation-key': 'ee'.repeat(32), 'chrysalis.dev/attestation-expires': '2999-01-01T00:00:00Z' } } },
  });
  t.is(attestedReplicaKey(await getProviderNode(s.rest, s.node), await getPod(s, pod), new Date())?.publicKey, publicKey);
});

test('a failed replica verdict revokes the key the Pod had', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  await attest(s, () => passed, pod);
  t.is((await getProviderNode(s.rest, s.node)).status?.attestedReplicas?.length, 1);
  const { response } = await attest(s, () => rejected, pod);
  t.false(response.verified);
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [], []);
});

test('entries of replica Pods that are gone are pruned when the list is next written with no room to spare', async (t) => {
  const s = await nodeSetup(t);
  const gone = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  await attest(s, () => passed, gone);
  await s.rest.request('DELETE', resourcePath(Pods, s.tenantNs, 'llm-0'), { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } });
  await until('llm-0 deleted', async () => (await getPod(s, gone).then(() => undefined, () => true)));
  const next = await podOn(s.rest, s.tenantNs, 'llm-1', s.node, { replicaOf: 'llm' });
  const { publicKey } = await attest(s, () => passed, next);
  const entries = (await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [];
  t.deepEqual(entries.map((e) => [e.pod, e.publicKey]), [['llm-1', publicKey]]);
});
