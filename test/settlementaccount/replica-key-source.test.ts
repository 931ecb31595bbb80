// Metering must take a replica's usage-signing key only from where the attestation service alone writes it
// (the host ProviderNode's status.attestedReplicas). Pod annotations can be replaced by anyone who may patch
// Pods in the namespace: a key or expiry put there must buy nothing.
import test from 'ava';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { CONDITION_ATTESTED } from '../../operator/src/settlement/metering.js';
import { addProviderNode, addReplica, listProviderNodes, newPayout, recordAttestedKey, setUpEnv } from './_env.js';
import { replicaKey, report, signReport } from './_usage.js';

const FUTURE = () => new Date(Date.now() + 3_600_000).toISOString();

test('a usage key put in the Pod\'s annotations is refused; only the key the attestation service recorded counts', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-annot' });
  const pn = await addProviderNode(env, newPayout());
  const genuine = replicaKey(81);
  const attacker = replicaKey(82);
  // The replica is attested with its genuine key; someone who may patch Pods adds their own key (and a
  // far expiry) in the annotations metering used to read.
  await addReplica(env, pn, 'r-0', genuine, {
    annotations: { 'chrysalis.dev/attestation-key': attacker.publicKey.toString('hex'), 'chrysalis.dev/attestation-expires': '2999-01-01T00:00:00Z' },
  });
  const forged = await env.ingest.ingest(signReport(attacker, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 1_000_000, gen: 0 })));
  t.false(forged.accepted);
  t.is(forged.reasons[0]?.code, 'SIGNATURE_INVALID');
  const honest = await env.ingest.ingest(signReport(genuine, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 0 })));
  t.true(honest.accepted, JSON.stringify(honest.reasons));
  const [node] = await listProviderNodes(env);
  t.is(node?.status?.usage?.[0]?.units, '10');
});

test('a Pod with a key only in its annotations is not attested', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-annot2' });
  const pn = await addProviderNode(env, newPayout());
  const attacker = replicaKey(83);
  await addReplica(env, pn, 'r-0', replicaKey(84));
  // A second Pod the attestation service never attested, carrying a key and expiry in its annotations
  // (and r-0's controller reference, copied, so that it is refused for its key rather than as no replica)...
  const { ownerReferences } = (await env.client.get<KubeObject>(Pods, 'r-0', env.ns))!.metadata!;
  await env.client.create(Pods, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: 'r-1', namespace: env.ns, labels: { 'chrysalis.dev/pool': 'pool' }, ownerReferences,
      annotations: { 'chrysalis.dev/attestation-key': attacker.publicKey.toString('hex'), 'chrysalis.dev/attestation-expires': FUTURE() },
    },
    spec: { nodeName: `${pn}-node`, automountServiceAccountToken: false, containers: [{ name: 'runtime', image: 'registry.invalid/runtime:1' }] },
  });
  // ...and the attested condition too (pods/status is not the attestation service's alone either).
  await env.rest.request('PATCH', resourcePath(Pods, env.ns, 'r-1', 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: CONDITION_ATTESTED, status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  const r = await env.ingest.ingest(signReport(attacker, report({ namespace: env.ns, pod: 'r-1', sequence: 1, prompt: 1_000_000, gen: 0 })));
  t.false(r.accepted);
  t.is(r.reasons[0]?.code, 'NOT_ATTESTED');
  t.regex(r.reasons[0]!.message, /status\.attestedReplicas/);
});

test('a key recorded for an earlier Pod of the same name does not sign for its replacement', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-annot3' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(85);
  await addReplica(env, pn, 'r-0', key);
  const live = await env.client.get<{ metadata: { uid: string } }>(Pods, 'r-0', env.ns);
  await recordAttestedKey(env, pn, { namespace: env.ns, pod: 'r-0', uid: `${live!.metadata.uid}-old`, publicKey: key.publicKey.toString('hex'), expiresAt: FUTURE() });
  const r = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 5, gen: 0 })));
  t.false(r.accepted);
  t.is(r.reasons[0]?.code, 'NOT_ATTESTED');
});
