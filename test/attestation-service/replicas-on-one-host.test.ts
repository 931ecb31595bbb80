// Finding (chaos bench, 200 nodes, four replicas per host): the service's status patches on ProviderNodes
// answered 409 more often than 200 (972 against 777), because every replica's challenge and verdict is a
// merge patch of its host's status conditioned on the resourceVersion read, and the replicas of one host
// raced each other. A loser retried five times, then sent its attester back to a fresh challenge;
// replicas were attested at 0.4 a second and the run never settled. The service's own writes to one host
// now take turns (host-writes.ts). Against the real apiserver: eight replicas of one host ask for their
// challenges at once, then answer at once; every request is served the first time and no patch of the
// service's loses a race.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { isConflict, type RestClient } from '../../operator/src/kube/rest.js';
import { getProviderNode, junkEvidence, nodeSetup, podOn, podToken, post, service, HOST_CLAIMS } from './_cluster.js';

const REPLICAS = 8;

test('the replicas of one host asking and answering at once are each served the first time, without a lost write race', async (t) => {
  const s = await nodeSetup(t);
  const pods: V1Pod[] = [];
  for (let i = 0; i < REPLICAS; i++) pods.push(await podOn(s.rest, s.tenantNs, `llm-${i}`, s.node, { replicaOf: 'llm' }));
  const tokens = await Promise.all(pods.map((p) => podToken(s.rest, p)));
  // The service's client, counting the patches the apiserver refused as stale.
  let stalePatches = 0;
  const counting = {
    request: async (method: string, path: string, options?: unknown) => {
      try {
        return await s.rest.request(method, path, options as never);
      } catch (err) {
        if (method === 'PATCH' && isConflict(err)) stalePatches++;
        throw err;
      }
    },
  } as unknown as RestClient;
  const svc = service({ ...s, rest: counting }, () => ({ verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } }) satisfies VerifyOutcome);
  const subjects = pods.map((p) => ({ kind: 'replica' as const, namespace: s.tenantNs, pod: p.metadata!.name! }));

  const challenges = await Promise.all(subjects.map((subject, i) => post(svc, '/v1/challenge', tokens[i]!, { subject })));
  t.deepEqual(challenges.map((c) => c.status), Array(REPLICAS).fill(200), JSON.stringify(challenges.map((c) => c.body)));
  t.is((await getProviderNode(s.rest, s.node)).status?.replicaChallenges?.length, REPLICAS, 'every challenge is recorded on the host');

  const answers = await Promise.all(subjects.map((subject, i) => post(svc, '/v1/evidence', tokens[i]!, junkEvidence(subject, (challenges[i]!.body as { nonce: string }).nonce))));
  t.deepEqual(answers.map((a) => a.status), Array(REPLICAS).fill(200), JSON.stringify(answers.map((a) => a.body)));
  t.true(answers.every((a) => (a.body as { verified: boolean }).verified));
  const host = await getProviderNode(s.rest, s.node);
  t.deepEqual(host.status?.replicaChallenges ?? [], [], 'every answer consumed its challenge');
  t.deepEqual((host.status?.attestedReplicas ?? []).map((e) => e.pod).sort(), subjects.map((x) => x.pod).sort(), 'every replica\'s key is recorded');
  t.is(stalePatches, 0, 'no patch of the service lost a race to another of its own');
});
