// The bound on challenges outstanding (maxOutstandingChallenges) on a real apiserver: of ten new nodes
// only the admission share of the slots is challenged, the others are not written at all while they
// wait, and a verdict frees a slot that goes at once (not at the 30 s fallback) to a waiting node.
import test from 'ava';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

test('at most the admission share of maxOutstandingChallenges is challenged; a verdict hands the freed slot to a waiting node at once', async (t) => {
  const fx = await providerNodeRun(t);
  const policyName = `pn-pacing-policy-${fx.run}`;
  await fx.createPolicy(policyName);
  const names = Array.from({ length: 10 }, (_, i) => `pn-pacing-${fx.run}-${i}`);
  for (const name of names) {
    await fx.createGpuNode(name);
    await fx.createProviderNode(name, policyName);
  }
  // 4 slots, one of them reserved for re-attestations: 3 first admissions at a time.
  const controller = fx.startController({ ...DEFAULT_CONFIG, maxOutstandingChallenges: 4 });
  const rest = new RestClient(fx.kc);
  t.teardown(() => rest.close());

  const challenged = async () => (await Promise.all(names.map((n) => fx.getProviderNode(n)))).filter((pn) => pn.status?.attestation?.challenge?.nonce);
  await eventually('three challenges', async () => ((await challenged()).length >= 3 ? true : undefined));
  // Every node has been reconciled at least once by now (each was enqueued at the start); wait for the
  // queue to pass them all, then check that no more than three were challenged.
  await eventually('every node reconciled', async () => ((await controller.reconciles()) >= names.length ? true : undefined));
  const first = await challenged();
  t.is(first.length, 3, 'three challenges outstanding, no more');
  const waiting = (await Promise.all(names.map((n) => fx.getProviderNode(n)))).filter((pn) => !pn.status?.attestation?.challenge);
  t.is(waiting.length, 7);
  t.true(waiting.every((pn) => pn.status === undefined), 'a waiting node that was never written is not written until its challenge can go with it');
  t.is(await controller.writes('providernodes/status'), 3, 'one status write per challenged node, none for the waiting ones');

  // The attestation service's verdict for one challenged node frees its slot.
  const answered = first[0]!.metadata!.name!;
  const now = Date.now();
  await rest.request('PATCH', resourcePath(ProviderNodes, undefined, answered, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { verifiedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } } },
  });
  // Within 20 s: the fallback for a node that no freed slot woke is CHALLENGE_SLOT_RETRY_MS (120 s).
  await eventually('a fourth node challenged', async () => ((await challenged()).filter((pn) => pn.metadata!.name !== answered).length === 3 ? true : undefined), 20_000);
  t.is((await challenged()).filter((pn) => pn.metadata!.name !== answered).length, 3, 'still three admissions outstanding');
});
