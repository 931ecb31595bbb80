// Finding: a replica's challenge lived in a Pod annotation ("<nonce> <expiresAt>"), which anyone who may
// patch Pods in the namespace can rewrite. They chose the nonce (one they hold recorded evidence for, so an
// old verdict is replayed) and the apparent issue time (the policy's evidence-age limit is measured from
// it). Replica challenges now live in the host ProviderNode's status.replicaChallenges, written only by the
// attestation service through the status subresource (for the Pod's uid, resourceVersion-conditioned); the
// annotation is neither read nor written. Against the real apiserver with real bound tokens.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { getProviderNode, junkEvidence, nodeSetup, podOn, podToken, post, service, until, HOST_CLAIMS } from './_cluster.js';

test('a nonce written into the Pod\'s annotation by someone who can patch Pods is not the replica\'s challenge', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const issuedAtSeen: Date[] = [];
  const svc = service(s, (_request, context) => {
    issuedAtSeen.push(context.nonceIssuedAt);
    return { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } } satisfies VerifyOutcome;
  });
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };

  // The attacker's nonce (one it holds old evidence for) and a far-future expiry, on the Pod.
  const chosen = randomBytes(32).toString('hex');
  await s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, 'llm-0'), {
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { 'chrysalis.dev/attestation-challenge': `${chosen} 2999-01-01T00:00:00.000Z` } } },
  });

  // Evidence bound to the chosen nonce is not an answer to anything.
  const replayed = await post(svc, '/v1/evidence', token, junkEvidence(subject, chosen));
  t.not(replayed.status, 200, JSON.stringify(replayed.body));
  t.is(issuedAtSeen.length, 0, 'the verifier never ran for the chosen nonce');

  // The replica's challenge is one the service made, recorded on the host for this Pod's uid.
  const before = Date.now();
  const challenge = await until('a challenge', async () => {
    const c = await post(svc, '/v1/challenge', token, { subject });
    return c.status === 503 ? undefined : c;
  });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
  const { nonce, expiresAt } = challenge.body as { nonce: string; expiresAt: string };
  t.not(nonce, chosen);
  t.not(expiresAt, '2999-01-01T00:00:00.000Z');
  const entries = (await getProviderNode(s.rest, s.node)).status?.replicaChallenges ?? [];
  t.is(entries.length, 1);
  t.like(entries[0], { namespace: s.tenantNs, pod: 'llm-0', uid: pod.metadata!.uid!, nonce, expiresAt });
  const issuedAt = entries[0]!.issuedAt;
  t.true(Date.parse(issuedAt) >= before - 1000 && Date.parse(issuedAt) <= Date.now(), 'issued now, by the service');

  // Rewriting the annotation again changes nothing: the chosen nonce is still refused, the real one answers,
  // and the evidence age is measured from when the service issued it.
  await s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, 'llm-0'), {
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { 'chrysalis.dev/attestation-challenge': `${chosen} 2999-01-01T00:00:00.000Z` } } },
  });
  const again = await post(svc, '/v1/evidence', token, junkEvidence(subject, chosen));
  t.is(again.status, 409, JSON.stringify(again.body));
  t.regex((again.body as { error: string }).error, /NONCE_MISMATCH/);
  const answered = await post(svc, '/v1/evidence', token, junkEvidence(subject, nonce));
  t.is(answered.status, 200, JSON.stringify(answered.body));
  t.true((answered.body as { verified: boolean }).verified);
  t.deepEqual(issuedAtSeen.map((d) => d.toISOString()), [new Date(issuedAt).toISOString()]);

  // The answer consumed the challenge: the same nonce does not answer twice.
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.replicaChallenges ?? [], []);
  const twice = await post(svc, '/v1/evidence', token, junkEvidence(subject, nonce));
  t.not(twice.status, 200, JSON.stringify(twice.body));
  t.is(issuedAtSeen.length, 1);
});
