// Finding: a Pod counted as a replica as soon as it carried the label chrysalis.dev/pool. Whoever may
// create Pods in a namespace could label their own Pod with a pool's name, have it attested (any passing
// evidence from an attested host) and send usage reports billed to that pool's account. A replica is now a
// Pod controlled by its InferencePool: an ownerReferences entry with controller: true, apiVersion
// chrysalis.dev/v1alpha1, kind InferencePool, named as the label, whose uid is the pool's that exists in the
// Pod's namespace now (the InferencePool controller's pod builder sets exactly that). Labels are Pod
// metadata anyone may write; a controller reference to a pool with the pool's uid is not.
// Against the real apiserver, real bound tokens and the real metering.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { LABEL_POOL, READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { replicaKey, report, signReport } from '../settlementaccount/_usage.js';
import { getProviderNode, junkEvidence, nodeSetup, podOn, podToken, post, replicaPool, service, until, type NodeSetup, HOST_CLAIMS } from './_cluster.js';

let verifierCalls = 0;
const passing = (): VerifyOutcome => {
  verifierCalls++;
  return { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } };
};

/** What a namespace editor can do to their own Pod: make it look, to the key lookup, as attested. */
async function pretendAttested(s: NodeSetup, pod: V1Pod, publicKey: string): Promise<void> {
  await s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, pod.metadata!.name!, 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status: 'True', reason: 'Verified', message: 'test', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  // The key entry an editor cannot write (status subresource of a cluster-scoped kind): written here by the
  // test's admin client, so that what metering refuses is the Pod itself, not a missing key.
  const pn = await getProviderNode(s.rest, s.node);
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { metadata: { resourceVersion: pn.metadata.resourceVersion }, status: { attestedReplicas: [
      { namespace: s.tenantNs, pod: pod.metadata!.name!, uid: pod.metadata!.uid!, publicKey, expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    ] } },
  });
}

async function impostorIsRefused(t: import('ava').ExecutionContext, s: NodeSetup, impostor: V1Pod): Promise<void> {
  const svc = service(s, passing);
  const token = await podToken(s.rest, impostor);
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: impostor.metadata!.name! };
  const before = await getProviderNode(s.rest, s.node);
  verifierCalls = 0;

  const challenge = await post(svc, '/v1/challenge', token, { subject });
  t.is(challenge.status, 409, JSON.stringify(challenge.body));
  t.regex((challenge.body as { error: string }).error, /not controlled by InferencePool/);
  const evidence = await post(svc, '/v1/evidence', token, junkEvidence(subject, 'ab'.repeat(32)));
  t.is(evidence.status, 409, JSON.stringify(evidence.body));
  t.is(verifierCalls, 0, 'the verifier never ran');
  const after = await getProviderNode(s.rest, s.node);
  t.is(after.metadata.resourceVersion, before.metadata.resourceVersion, 'nothing was written to the host');

  const key = replicaKey(77);
  await pretendAttested(s, impostor, key.publicKey.toString('hex'));
  // The operator's ProviderNode cache, holding the host (the refusal comes before it is read).
  const providerNodes = new Store<ProviderNode & KubeObject>();
  providerNodes.put(before as ProviderNode & KubeObject);
  const metering = new UsageIngest({ client: new KubeClient(s.rest, NO_FENCE), providerNodes });
  const usage = await metering.ingest(signReport(key, report({ namespace: s.tenantNs, pod: impostor.metadata!.name!, sequence: 1, prompt: 1000, gen: 1000 })));
  t.false(usage.accepted, 'usage of a Pod its pool does not control is not metered');
  t.is(usage.reasons[0]?.code, 'NOT_A_REPLICA', JSON.stringify(usage.reasons));
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.usage ?? [], [], 'nothing was folded');
}

test('a Pod labelled as a replica but not owned by its pool cannot attest or report usage', async (t) => {
  const s = await nodeSetup(t);
  await replicaPool(s.rest, s.tenantNs, 'llm');
  const impostor = await podOn(s.rest, s.tenantNs, 'llm-7', s.node, { labels: { [LABEL_POOL]: 'llm' } });
  await impostorIsRefused(t, s, impostor);
});

test('a Pod labelled with one pool but controlled by another cannot attest or report usage as the first', async (t) => {
  const s = await nodeSetup(t);
  await replicaPool(s.rest, s.tenantNs, 'llm');
  const other = await replicaPool(s.rest, s.tenantNs, 'cheap');
  const impostor = await podOn(s.rest, s.tenantNs, 'llm-8', s.node, {
    labels: { [LABEL_POOL]: 'llm' },
    ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: other.name, uid: other.uid, controller: true }],
  });
  await impostorIsRefused(t, s, impostor);
});

test('a replica its pool controls gets a challenge (the refusals above are about ownership)', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const svc = service(s, passing);
  const token = await podToken(s.rest, pod);
  const challenge = await until('a challenge', async () => {
    const c = await post(svc, '/v1/challenge', token, { subject: { kind: 'replica', namespace: s.tenantNs, pod: 'llm-0' } });
    return c.status === 503 ? undefined : c;
  });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
});
