// Finding (chaos bench, 100 and 200 nodes): a replica that asked for a challenge again was handed its
// pending one until the challenge's 300 s TTL, even once that challenge was older than the host policy's
// evidence age (48 s under the bench's 60 s re-attestation interval), so its answer could only come back
// EVIDENCE_TOO_OLD (50 of 489 replica verdicts at 100 nodes). A replica's challenge now lives no longer than
// the policy's evidence age, and one older than that is replaced by a fresh one. Against the real apiserver.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { getProviderNode, nodeSetup, podOn, podToken, post, service, HOST_CLAIMS } from './_cluster.js';

test('a replica\'s challenge lives no longer than the policy\'s evidence age, and one past it is not handed out again', async (t) => {
  const s = await nodeSetup(t, { policySpec: { maxEvidenceAgeSeconds: 20 } });
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const token = await podToken(s.rest, pod);
  const svc = service(s, () => ({ verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } }));
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };

  const first = await post(svc, '/v1/challenge', token, { subject });
  t.is(first.status, 200, JSON.stringify(first.body));
  const entry = (await getProviderNode(s.rest, s.node)).status!.replicaChallenges![0]!;
  t.is(Date.parse(entry.expiresAt) - Date.parse(entry.issuedAt), 20_000, 'the challenge expires with the evidence it can still be answered by');

  // Asked again while it can still be answered: the same challenge.
  const again = await post(svc, '/v1/challenge', token, { subject });
  t.is((again.body as { nonce: string }).nonce, (first.body as { nonce: string }).nonce);

  // A pending challenge issued 30 s ago with a 300 s expiry (as issued before this change): past the
  // policy's 20 s, so the replica gets a fresh one rather than one it can only fail.
  const now = Date.now();
  const stale = { ...entry, nonce: randomBytes(32).toString('hex'), issuedAt: new Date(now - 30_000).toISOString(), expiresAt: new Date(now + 270_000).toISOString() };
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json', body: { status: { replicaChallenges: [stale] } },
  });
  const fresh = await post(svc, '/v1/challenge', token, { subject });
  t.is(fresh.status, 200, JSON.stringify(fresh.body));
  t.not((fresh.body as { nonce: string }).nonce, stale.nonce, 'the stale challenge is not handed out again');
  const entries = (await getProviderNode(s.rest, s.node)).status!.replicaChallenges!;
  t.is(entries.length, 1, 'it was replaced, not added beside');
  t.is(entries[0]!.nonce, (fresh.body as { nonce: string }).nonce);
});
