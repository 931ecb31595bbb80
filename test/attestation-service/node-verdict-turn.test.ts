// Finding: a node's verdict was decided on the ProviderNode as read before verification, then waited its
// turn among the service's writes to that host (host-writes.ts) and was sent with the resourceVersion
// read before the wait. Any write to the host in between — a replica's key, a usage fold — made it 409,
// and the service read the host again and verified the same evidence once more. In the chaos bench at
// 2,000 nodes and 4,000 replicas that was up to 587 refused node verdicts a minute, 10 a second, each a
// status write kube-apiserver worked through and a verification redone. Now a verdict that waited is
// written on the newest copy of the host, and evidence is verified again only when what it was judged
// against changed (the challenge, the policy, the host's declared hardware).
import test from 'ava';
import { AttestationService, type VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { HostWrites } from '../../operator/src/attestation/service/host-writes.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { testCluster } from '../cluster/index.js';
import { ATTESTER_SA, boundToken, getProviderNode, junkEvidence, nodeSetup, post, until } from './_cluster.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { simulated: true, gpus: [{ index: 0, model: 'H100', ccMode: 'on' }] } };

test('a node verdict that waited behind another write to its host is written once, on the newer host, and verified once', async (t) => {
  const s = await nodeSetup(t);
  const metrics = new OperatorMetrics();
  const rest = new RestClient((await testCluster()).kubeConfig(), { qps: 200, burst: 400, metrics });
  t.teardown(() => rest.close());
  const hostWrites = new HostWrites();
  let verifications = 0;
  const svc = new AttestationService({ rest, fence: NO_FENCE, config: s.config, hostWrites, verify: () => { verifications++; return passed; } });
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });

  // Another write to the host holds its turn (as a replica's verdict or a usage fold would) until released.
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const other = hostWrites.run(s.node, async () => {
    await held;
    await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
      contentType: 'application/merge-patch+json', body: { status: { attestation: { replicaFailure: { pod: 'team/llm-0', code: 'TEST', at: new Date().toISOString() } } } },
    });
  });
  const answer = post(svc, '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: s.node }, s.nonce));
  await until('the evidence verified and waiting its turn', async () => (verifications === 1 ? true : undefined));
  // Past verification, the verdict's write queues behind the held one.
  await new Promise((r) => setTimeout(r, 200));
  release();
  await other;

  const r = await answer;
  t.is(r.status, 200, JSON.stringify(r.body));
  t.true((r.body as { verified: boolean }).verified);
  t.is(verifications, 1, 'verified once: nothing it was judged against changed');
  const refused = (await metrics.apiRequests.get()).values.filter((v) => v.labels.resource === 'providernodes/status' && v.labels.code === '409');
  t.deepEqual(refused.map((v) => v.value), [], 'no status write refused');
  const pn = await getProviderNode(s.rest, s.node);
  t.truthy(pn.status?.attestation?.verifiedAt);
  t.is(pn.status?.attestation?.challenge, undefined, 'the challenge consumed');
  t.is(pn.status?.attestation?.replicaFailure?.code, 'TEST', 'the other write kept');
});
