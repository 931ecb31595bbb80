// ProviderNode status has three writers: this controller (conditions, the challenge it issues, capacity,
// allocation, quarantine), the attestation service (verdicts, the challenge's consumption, replica keys,
// replica challenges) and metering (usage and its cursors). The controller plans from an informer cache
// that may lag behind the others' writes. A plan made from such a cache must move none of their fields backwards: no consumed
// challenge comes back (it could be answered again), no older verdict, no revoked replica key (it could
// sign usage again), no older usage (units already folded would be folded twice).
//
// A plan from a stale copy is refused by the apiserver (its write is conditioned on the resourceVersion)
// and made again from the apiserver's object.
//
// Against the real apiserver with the real service (real bound tokens) and the real metering; the
// reconciler reads from caches the test fills by hand, so "stale" is exact rather than a matter of timing.
import test from 'ava';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, type KubeObject } from '../../operator/src/kube/resource.js';
import { isConflict } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';
import { LABEL_POOL } from '../../operator/src/marks.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { ATTESTER_SA, boundToken, getProviderNode, HOST_CLAIMS, nodeSetup, podOn, podToken, post, service, until, type NodeSetup } from '../attestation-service/_cluster.js';
import { replicaKey, report, sandboxAccount, signReport } from '../settlementaccount/_usage.js';
import { controllerOnCaches } from './_controller-on-caches.js';

// A replica on this node-cvm host passes only with the host's chip and launch measurement (HOST_CLAIMS).
const passed: VerifyOutcome = { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [{ index: 0, model: 'H100', ccMode: 'on' }] } };
const rejected: VerifyOutcome = { verified: false, reasons: [{ code: 'BINDING_MISMATCH', message: 'test' }], claims: { simulated: false, gpus: [] } };

/** A replica's challenge through the service, as its sidecar asks for it: the nonce. */
async function replicaChallenge(s: NodeSetup, pod: V1Pod): Promise<string> {
  const svc = service(s, () => passed);
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! };
  const challenge = await until('a replica challenge', async () => {
    const c = await post(svc, '/v1/challenge', token, { subject });
    return c.status === 503 ? undefined : c;
  });
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  return (challenge.body as { nonce: string }).nonce;
}

/** A replica's challenge and evidence through the service, as its sidecar sends them. */
async function attestReplica(s: NodeSetup, verdict: VerifyOutcome, pod: V1Pod, publicKey: string): Promise<void> {
  const svc = service(s, () => verdict);
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! };
  const nonce = await replicaChallenge(s, pod);
  const r = await post(svc, '/v1/evidence', token, { subject, nonce, publicKey, cpu: { type: 'sev-snp', report: Buffer.alloc(1184).toString('base64') }, gpus: [] });
  if (r.status !== 200 || (r.body as { verified: boolean }).verified !== verdict.verified) throw new Error(`replica evidence: ${r.status} ${JSON.stringify(r.body)}`);
}

/** The fields of the other two writers, which no reconcile may change. */
function othersFields(status: ProviderNodeStatus | undefined) {
  const { challenge, ...verdict } = status?.attestation ?? {};
  return { challenge, verdict, attestedReplicas: status?.attestedReplicas ?? [], replicaChallenges: status?.replicaChallenges ?? [], usage: status?.usage ?? [], usageCursors: status?.usageCursors ?? [] };
}

test('a reconcile planned from a stale cache brings back no consumed challenge, older verdict, revoked replica key or older usage', async (t) => {
  const s = await nodeSetup(t);
  // The controller, reading from hand-fed caches; its applies and reads are recorded (step 4 says which it made).
  const { client, providerNodes, nodes, pods, calls, reconcile, refresh } = await controllerOnCaches(s);
  // One replica of a pool on the node (podOn creates the pool), billing an account.
  await sandboxAccount(client, s.tenantNs);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const key = replicaKey(91);
  const meteringCache = new Store<ProviderNode & KubeObject>();
  meteringCache.put((await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!);
  const metering = new UsageIngest({ client, providerNodes: meteringCache });
  const usage = async (sequence: number, prompt: number) => {
    const r = await metering.ingest(signReport(key, report({ namespace: s.tenantNs, pod: 'llm-0', sequence, prompt, gen: 0 })));
    if (!r.accepted) throw new Error(`usage ${sequence} refused: ${JSON.stringify(r.reasons)}`);
  };

  /** A reconcile from caches filled from the server just now (retried if the Node changes under it). */
  const reconcileFresh = async () => {
    for (let attempt = 1; ; attempt++) {
      await refresh();
      try {
        return await reconcile();
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
  };

  // 1. The replica is attested (its key K on the host's status) and meters 10 units.
  await attestReplica(s, passed, pod, key.publicKey.toString('hex'));
  await usage(1, 10);
  // 2. The controller reconciles from a current cache; the node keeps its pending challenge X.
  pods.put((await client.get<V1Pod & KubeObject>(Pods, 'llm-0', s.tenantNs))!);
  await reconcileFresh();
  const stale = (await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!;
  t.is(stale.status?.attestation?.challenge?.nonce, s.nonce);
  t.is(stale.status?.attestedReplicas?.length, 1);
  t.is(stale.status?.usage?.[0]?.units, '10');
  t.is(stale.status?.conditions?.find((c) => c.type === 'Attested')?.status, 'True');

  // 3. The others write; the controller's ProviderNode cache does not see it yet.
  //    The node's attester answers X: a newer verdict, and X is consumed.
  const nodeToken = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const answer = await post(service(s, () => passed), '/v1/evidence', nodeToken, {
    subject: { kind: 'node', nodeName: s.node }, nonce: s.nonce, publicKey: 'ef'.repeat(32),
    cpu: { type: 'sev-snp', report: Buffer.alloc(1184).toString('base64') }, gpus: [],
  });
  t.true((answer.body as { verified?: boolean }).verified, JSON.stringify(answer.body));
  //    The replica meters 20 more units, then fails re-attestation: K is revoked.
  await usage(2, 30);
  await attestReplica(s, rejected, pod, key.publicKey.toString('hex'));
  //    The replica asks for a new challenge: it is pending on the host, where only the service writes.
  const pending = await replicaChallenge(s, pod);
  const latest = await getProviderNode(s.rest, s.node);
  t.deepEqual(latest.status?.replicaChallenges?.map((c) => c.nonce), [pending]);
  t.is(latest.status?.attestation?.challenge, undefined, 'X was consumed');
  t.not(latest.status?.attestation?.verifiedAt, stale.status?.attestation?.verifiedAt, 'a newer verdict');
  t.deepEqual(latest.status?.attestedReplicas ?? [], [], 'K was revoked');
  t.is(latest.status?.usage?.[0]?.units, '30');

  // 4. The controller reconciles from the stale ProviderNode; its Pod cache has seen a second replica
  //    (one GPU, controlled by the pool as llm-0 is), so its plan has something new to write.
  providerNodes.put(stale);
  nodes.put((await client.get<V1Node & KubeObject>(Nodes, s.node))!);
  pods.put({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'llm-1', namespace: s.tenantNs, uid: 'uid-llm-1', labels: { [LABEL_POOL]: 'llm' }, ownerReferences: pod.metadata!.ownerReferences },
    spec: { nodeName: s.node, containers: [{ name: 'runtime', image: 'registry.invalid/r:1', resources: { limits: { 'nvidia.com/gpu': '1' } } }] },
  } as V1Pod & KubeObject);
  calls.length = 0;
  const staleOutcome = await reconcile().then(() => undefined, (err: unknown) => err);
  const after = await getProviderNode(s.rest, s.node);
  t.deepEqual(othersFields(after.status), othersFields(latest.status), 'no field of the service or metering moved');
  // The stale plan is refused by the apiserver, not applied; the reconcile plans again from the
  // apiserver's object (a current one, as step 5 checks).
  t.is(staleOutcome, undefined, String(staleOutcome));
  t.deepEqual(calls, ['apply ProviderNode status: 409', 'get ProviderNode', 'apply ProviderNode status']);

  // 5. From a current cache the controller catches up: attested on the newer verdict, two GPUs
  //    allocated, no challenge (the verdict is fresh) — and still nothing of the others moved.
  await reconcileFresh();
  const caughtUp = await getProviderNode(s.rest, s.node);
  t.deepEqual(othersFields(caughtUp.status), othersFields(latest.status));
  t.like(caughtUp.status?.conditions?.find((c) => c.type === 'Attested'), { status: 'True', reason: 'Verified' });
  t.is(caughtUp.status?.attestation?.challenge, undefined, 'planned from the newer verdict: the stale one still wanted X answered');
  t.is(caughtUp.status?.attestation?.verifiedAt, latest.status?.attestation?.verifiedAt);
  t.is(caughtUp.status?.allocated?.gpus, 1);
  t.is(caughtUp.status?.observedGeneration, caughtUp.metadata.generation);

  // Each writer owns its own fields under its own manager: the controller none of the others'.
  const owned = (manager: string) => {
    const entries = (caughtUp.metadata.managedFields ?? []).filter((f) => f.manager === manager && f.subresource === 'status');
    return Object.assign({}, ...entries.map((f) => (f.fieldsV1 as { 'f:status'?: Record<string, unknown> })['f:status'] ?? {})) as Record<string, Record<string, unknown> | undefined>;
  };
  const controller = owned('chrysalis-operator');
  t.deepEqual(Object.keys(controller).sort(), ['f:allocated', 'f:capacity', 'f:conditions', 'f:observedGeneration'], 'the controller owns only its fields');
  t.true('f:usage' in owned('chrysalis-metering') && 'f:usageCursors' in owned('chrysalis-metering'), 'metering writes usage under its own manager');
  t.truthy(owned('chrysalis-attestation-service')['f:attestation']?.['f:verifiedAt'], 'the service writes verdicts under its own manager');
  t.truthy(owned('chrysalis-attestation-service')['f:replicaChallenges'], 'and replica challenges');
});
