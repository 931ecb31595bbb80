// The chart runs two replicas of the attestation service behind one Service, which sends each attester
// request to either. Both serve: every write the service makes is conditioned on the resourceVersion it
// read, so two replicas are no different from two concurrent requests on one — a nonce is consumed by one
// answer only, and no rejection count is lost — and neither answers "not the leader" to an attester.
// The replicas are built as the operator's main builds them (--components attestation-service
// --leader-elect), with a stub verifier; requests go straight to each replica's service object.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:https';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { buildOperator, startAttestationService } from '../../operator/src/main.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { freePort } from '../../dev/cluster/ports.js';
import { ATTESTER_SA, boundToken, getProviderNode, junkEvidence, nodeSetup, post, type NodeSetup } from './_cluster.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { simulated: true, gpus: [] } };
const rejected: VerifyOutcome = { verified: false, reasons: [{ code: 'MALFORMED_EVIDENCE', message: 'junk' }], claims: { simulated: false, gpus: [] } };

/** A new pending challenge on the node, as the ProviderNode controller issues it. */
async function challenge(s: NodeSetup): Promise<string> {
  const nonce = randomBytes(32).toString('hex');
  const now = Date.now();
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { challenge: { nonce, issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 300_000).toISOString() } } } },
  });
  return nonce;
}

test('both attestation service replicas serve attesters, and their conditioned writes let one answer consume a nonce and lose no rejection', async (t) => {
  const s = await nodeSetup(t);
  const cluster = await testCluster();
  const leaseNamespace = await useNamespace(t, 'svc-lease');
  let verdict = passed;
  const replicas = [];
  for (let i = 0; i < 2; i++) {
    const flags = {
      components: ['attestation-service' as const], kubeconfig: cluster.kubeconfigPath, leaderElect: true, leaseNamespace,
      metricsPort: await freePort(), attestationPort: await freePort(), qps: 100, burst: 200,
      attesterServiceAccount: `${s.attesterNs}/${ATTESTER_SA}`,
    };
    const manager = buildOperator(flags);
    const { service, server } = await startAttestationService(manager, flags, { verify: () => verdict });
    const running = manager.run();
    t.teardown(async () => {
      (server as Server).close();
      await manager.stop();
      await running;
    });
    replicas.push(service);
  }
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const subject = { kind: 'node' as const, nodeName: s.node };

  // Each replica, alone, records a verdict: neither is a standby that refuses.
  for (const [i, replica] of replicas.entries()) {
    const nonce = i === 0 ? s.nonce : await challenge(s);
    const r = await post(replica, '/v1/evidence', token, junkEvidence(subject, nonce));
    t.is(r.status, 200, `replica ${i}: ${JSON.stringify(r.body)}`);
    t.true((r.body as { verified?: boolean }).verified, `replica ${i}`);
    t.is((await getProviderNode(s.rest, s.node)).status?.attestation?.challenge, undefined, `replica ${i} consumed the challenge`);
  }

  // The same answer to both at once: one verdict; the other is refused (changed meanwhile, or no longer pending).
  const contested = await challenge(s);
  const both = await Promise.all(replicas.map((replica) => post(replica, '/v1/evidence', token, junkEvidence(subject, contested))));
  t.is(both.filter((r) => r.status === 200 && (r.body as { verified?: boolean }).verified).length, 1, JSON.stringify(both));
  t.true(both.every((r) => r.status === 200 || r.status === 409 || r.status === 503), JSON.stringify(both));
  t.is((await getProviderNode(s.rest, s.node)).status?.attestation?.challenge, undefined);

  // Rejected answers to both at once: each one the service took (200) is counted, none twice, none lost.
  verdict = rejected;
  const disputed = await challenge(s);
  const answers = await Promise.all(replicas.map((replica) => post(replica, '/v1/evidence', token, junkEvidence(subject, disputed))));
  const taken = answers.filter((r) => r.status === 200).length;
  t.true(taken >= 1, JSON.stringify(answers));
  const pn = await getProviderNode(s.rest, s.node);
  t.like(pn.status?.attestation?.pendingRejections, { nonce: disputed, count: taken });
  t.is(pn.status?.attestation?.challenge?.nonce, disputed, 'fewer rejections than the limit leave the challenge pending');
});
