// Finding (chaos bench, 100 nodes): a replica on a quarantined node was deleted and its replacement,
// created with the same name on another node, showed the old replica's verdict — its gate said
// HOST_NOT_ATTESTED "the replica's node chaos-2 is not attested" while it ran on chaos-41. The service
// patched the gate by namespace/name, so a verdict judged for one Pod landed on its same-named successor
// when the Pod was replaced while the evidence was checked. A verdict now only lands on the Pod it was
// judged for (its uid). Against the real apiserver.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import { HOST_CLAIMS, junkEvidence, nodeSetup, podOn, podToken, post, service } from './_cluster.js';

test('a verdict for a Pod replaced while its evidence was checked does not land on the same-named successor', async (t) => {
  const s = await nodeSetup(t);
  const old = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const token = await podToken(s.rest, old);
  let successor: V1Pod | undefined;
  // While the evidence is verified the Pod is deleted and a new one of the same name is created, as the
  // InferencePool controller replaces a replica of a quarantined node.
  const svc = service(s, async () => {
    await s.rest.request('DELETE', resourcePath(Pods, s.tenantNs, 'llm-0'), { query: { gracePeriodSeconds: '0' } });
    for (let i = 0; i < 100; i++) {
      try {
        successor = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // the old one is still being removed
      }
    }
    return { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } };
  });
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };
  const challenge = await post(svc, '/v1/challenge', token, { subject });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
  const answer = await post(svc, '/v1/evidence', token, junkEvidence(subject, (challenge.body as { nonce: string }).nonce));
  t.truthy(successor, 'the successor was created');
  t.not(successor!.metadata!.uid, old.metadata!.uid);
  t.not(answer.status, 200, `a verdict for a Pod that no longer exists is not reported as recorded: ${JSON.stringify(answer.body)}`);
  t.is(answer.status, 409);
  t.regex((answer.body as { error: string }).error, /llm-0 \(uid [0-9a-f-]+\) was deleted or replaced while its evidence was checked/);
  const now = await s.rest.request<V1Pod>('GET', resourcePath(Pods, s.tenantNs, 'llm-0'));
  t.is(now.metadata!.uid, successor!.metadata!.uid);
  t.is(now.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED), undefined, 'the successor carries no verdict it was not judged for');
});
