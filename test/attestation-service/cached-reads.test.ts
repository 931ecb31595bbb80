// Finding: the attestation service read every Pod, InferencePool and ProviderNode it decided on from the
// apiserver, per request: a replica's challenge and evidence cost eight to twelve GETs (its Pod, its pool,
// its host, and each other replica Pod named on the host's lists, twice), and those GETs spent the service's
// client rate limit (in the chaos bench at 1,000 nodes, about 185 of its 200 requests a second). It now
// reads the operator's caches first (replica-reads.ts, provider-node-reads.ts) and the apiserver where a
// cached copy cannot answer for sure. These tests count the requests, and hand the service copies that
// lag, to show a lagging copy never decides a verdict: against the real apiserver, with real bound tokens.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodeReads } from '../../operator/src/attestation/service/provider-node-reads.js';
import { RecentPods } from '../../operator/src/attestation/service/recent-pods.js';
import { AttestationService, type VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient, type RequestOptions } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';
import { slimPod } from '../../operator/src/kube/cached-shape.js';
import { READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import { replicaKey, report, signReport } from '../settlementaccount/_usage.js';
import { testCluster } from '../cluster/index.js';
import { ATTESTER_SA, attestReplica, boundToken, getProviderNode, HOST_CLAIMS, junkEvidence, nodeSetup, podOn, podToken, post, type NodeSetup } from './_cluster.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } };

/** The test's RestClient, counting what it sends as "VERB resource". */
class CountingRest extends RestClient {
  readonly sent: string[] = [];
  override async request<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    // /api/v1/namespaces/NS/pods/NAME/status → "pods/status"; /apis/GROUP/VERSION/providernodes/NAME → "providernodes".
    const parts = path.split('?')[0]!.split('/').filter(Boolean);
    const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
    const [resource] = rest[0] === 'namespaces' ? rest.slice(2) : rest;
    this.sent.push(`${method} ${resource}${path.split('?')[0]!.endsWith('/status') ? '/status' : ''}`);
    return super.request<T>(method, path, options);
  }
  count(what: string): number { return this.sent.filter((s) => s === what).length; }
}

async function countingRest(t: ExecutionContext): Promise<CountingRest> {
  const rest = new CountingRest((await testCluster()).kubeConfig(), { qps: 200, burst: 400 });
  t.teardown(() => rest.close());
  return rest;
}

interface Caches {
  pods: Store<KubeObject>;
  pools: Store<InferencePool & KubeObject>;
  providerNodes: Store<ProviderNode & KubeObject>;
  policies: Store<AttestationPolicy & KubeObject>;
}

/** A service reading through `rest`, with caches the test fills by hand (what an informer would hold, or a lagging copy). */
function cachedService(s: NodeSetup, rest: RestClient, caches: Caches): AttestationService {
  return new AttestationService({
    rest, fence: NO_FENCE, config: s.config, verify: () => passed,
    providerNodes: new ProviderNodeReads({ rest, cache: caches.providerNodes }),
    replicaCaches: { pods: caches.pods, pools: caches.pools }, policies: caches.policies,
  });
}

function emptyCaches(): Caches {
  return { pods: new Store({ transform: slimPod }), pools: new Store(), providerNodes: new Store(), policies: new Store() };
}

/** The caches filled with the objects as the apiserver has them now (what a synced informer holds). */
async function currentCaches(s: NodeSetup, pods: V1Pod[], caches = emptyCaches()): Promise<Caches> {
  for (const pod of pods) {
    caches.pods.put(await s.rest.request<KubeObject>('GET', resourcePath(Pods, pod.metadata!.namespace, pod.metadata!.name)));
    caches.pools.put(await s.rest.request<InferencePool & KubeObject>('GET', resourcePath(InferencePools, pod.metadata!.namespace, 'llm')));
  }
  caches.providerNodes.put(await getProviderNode(s.rest, s.node) as ProviderNode & KubeObject);
  caches.policies.put(await s.rest.request<AttestationPolicy & KubeObject>('GET', resourcePath(AttestationPolicies, undefined, s.policy)));
  return caches;
}

test('with synced caches a replica attestation reads nothing from the apiserver but its Pod, to confirm its True gate; without them, its Pod, pool, host, neighbours and policy', async (t) => {
  const s = await nodeSetup(t);
  const pods = [];
  for (let i = 0; i < 3; i++) pods.push(await podOn(s.rest, s.tenantNs, `llm-${i}`, s.node, { replicaOf: 'llm' }));
  // The neighbours have keys on the host, so each write prunes against their Pods.
  const uncached = await countingRest(t);
  for (const pod of pods.slice(1)) t.true((await attestReplica(cachedService(s, uncached, emptyCaches()), s, pod)).body.verified);

  uncached.sent.length = 0;
  const withoutCaches = await attestReplica(cachedService(s, uncached, emptyCaches()), s, pods[0]!);
  t.true(withoutCaches.body.verified, JSON.stringify(withoutCaches.body));
  const gets = uncached.sent.filter((r) => r.startsWith('GET '));
  t.log(`without caches: ${uncached.sent.length} requests (${gets.length} GETs: ${gets.join(', ')})`);

  const rest = await countingRest(t);
  const svc = cachedService(s, rest, await currentCaches(s, pods));
  const withCaches = await attestReplica(svc, s, pods[0]!);
  t.true(withCaches.body.verified, JSON.stringify(withCaches.body));
  t.log(`with caches: ${rest.sent.length} requests: ${rest.sent.join(', ')}`);
  // pods[0] was attested just before (uncached), so this is a renewal: its gate is already True.
  t.is(rest.count('GET pods'), 1, 'one Pod read, the renewal\'s confirmation that the gate is still True; the replica and its neighbours are cached with their uids');
  t.is(rest.count('GET inferencepools'), 0);
  t.is(rest.count('GET providernodes'), 0, 'the evidence reads the host as the challenge wrote it (remembered), not again');
  t.is(rest.count('GET attestationpolicies'), 0, 'the policy is cached');
  t.is(rest.count('PATCH providernodes/status'), 2);
  t.is(rest.count('PATCH pods/status'), 0, 'a renewal leaves the True gate as it is');
  t.is(uncached.count('GET attestationpolicies'), 2, 'without a cache the policy is read for the challenge and for the evidence');
  t.true(gets.length >= 8, 'the uncached run read Pods, pools and the host besides');

  // As the chart runs the service (alone: no Pod cache, it may not list Pods): the Pod read for the
  // challenge serves the evidence, and each neighbour is read once — the host declares one GPU, so its
  // lists name more Pods than it has room for (with room, neighbours are not read: neighbour-reads.test.ts).
  const alone = await countingRest(t);
  const caches = await currentCaches(s, pods);
  const svcAlone = new AttestationService({
    rest: alone, fence: NO_FENCE, config: s.config, verify: () => passed,
    providerNodes: new ProviderNodeReads({ rest: alone, cache: caches.providerNodes }),
    replicaCaches: { pools: caches.pools, recentPods: new RecentPods() },
  });
  const aloneRun = await attestReplica(svcAlone, s, pods[0]!);
  t.true(aloneRun.body.verified, JSON.stringify(aloneRun.body));
  t.log(`service alone: ${alone.sent.length} requests: ${alone.sent.join(', ')}`);
  t.is(alone.count('GET pods'), 4, 'the replica once for its challenge and once to confirm its True gate, each of its two neighbours once');
  t.is(alone.count('PATCH pods/status'), 0);
});

/**
 * A replica challenged through a cached service; `hostChanges` is then written to its host's status
 * behind the cache's back, and the replica's evidence (judged as passing) is sent. Returns the answer.
 */
async function evidenceAfterHostChange(t: ExecutionContext, hostChanges: Record<string, unknown>) {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const rest = await countingRest(t);
  const caches = await currentCaches(s, [pod]);
  const svc = cachedService(s, rest, caches);
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };
  const challenge = await post(svc, '/v1/challenge', token, { subject });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), { contentType: 'application/merge-patch+json', body: { status: hostChanges } });
  rest.sent.length = 0;
  const r = await post(svc, '/v1/evidence', token, { subject, nonce: (challenge.body as { nonce: string }).nonce, publicKey: randomBytes(32).toString('hex'), cpu: { type: 'sev-snp', report: randomBytes(1184).toString('base64') }, gpus: [] });
  return { s, rest, r };
}

test('a cached host that lags (still Attested, the node since failed) does not decide the replica verdict: the refused write is judged again on the apiserver', async (t) => {
  // The node's attestation fails meanwhile; neither the cache nor the service's memory of its own write has seen it.
  const { s, rest, r } = await evidenceAfterHostChange(t, {
    conditions: [{ type: 'Attested', status: 'False', reason: 'EvidenceRejected', message: 'test', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }],
  });
  t.is(r.status, 200, JSON.stringify(r.body));
  const body = r.body as { verified: boolean; reasons: Array<{ code: string }> };
  t.false(body.verified);
  t.is(body.reasons[0]?.code, 'HOST_NOT_ATTESTED');
  t.is(rest.count('GET providernodes'), 1, 'read again after the refused write');
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [], [], 'no key recorded');
});

test('a Pod the cache has not seen, or has under an older uid, is read from the apiserver; a neighbour missing from the cache keeps its key', async (t) => {
  const s = await nodeSetup(t);
  const first = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const neighbour = await podOn(s.rest, s.tenantNs, 'llm-1', s.node, { replicaOf: 'llm' });
  const caches = await currentCaches(s, [first]);
  const rest = await countingRest(t);
  // The neighbour attests through a service whose cache does not hold it.
  const n = await attestReplica(cachedService(s, rest, caches), s, neighbour);
  t.true(n.body.verified, JSON.stringify(n.body));
  t.true(rest.count('GET pods') >= 1, 'the uncached Pod was read');

  // llm-0 is deleted and created again under the name; the cache still holds the old one.
  await s.rest.request('DELETE', resourcePath(Pods, s.tenantNs, 'llm-0'), { query: { gracePeriodSeconds: '0' } });
  const again = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  t.not(again.metadata!.uid, first.metadata!.uid);
  rest.sent.length = 0;
  const r = await attestReplica(cachedService(s, rest, caches), s, again);
  t.is(r.challenge.status, 200, JSON.stringify(r.challenge.body));
  t.true(r.body.verified, JSON.stringify(r.body));
  // The new Pod is read (not the cached copy with the old uid), and the neighbour, still not cached, is
  // asked of the apiserver before its key could be pruned: it keeps it.
  const keys = (await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [];
  t.deepEqual(keys.map((k) => `${k.pod}:${k.uid}`).sort(), [`llm-0:${again.metadata!.uid}`, `llm-1:${neighbour.metadata!.uid}`]);
});

test('a usage report reads its Pod from the apiserver even when a copy is cached: metering requires the gate True, and the copy may still show it after it turned False', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const gate = (status: 'True' | 'False') => s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, 'llm-0', 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  await gate('True');
  const caches = await currentCaches(s, [pod]);
  await gate('False');
  t.is((caches.pods.get(s.tenantNs, 'llm-0') as V1Pod | undefined)?.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED)?.status, 'True', 'the copy lags');
  const rest = await countingRest(t);
  const given: V1Pod[] = [];
  const svc = new AttestationService({
    rest, fence: NO_FENCE, config: s.config, verify: () => passed,
    providerNodes: new ProviderNodeReads({ rest, cache: caches.providerNodes }),
    replicaCaches: { pods: caches.pods, pools: caches.pools },
    usage: { ingest: async (_report, _now, read) => { given.push(read!.pod); return { accepted: false, reasons: [] }; } },
  });
  const r = await post(svc, '/v1/usage', await podToken(s.rest, pod), signReport(replicaKey(7), report({ namespace: s.tenantNs, pod: 'llm-0', bootId: 'boot-cached-reads', sequence: 1, prompt: 1, gen: 1 })));
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is(rest.count('GET pods'), 1);
  t.is(given[0]?.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED)?.status, 'False', 'metering is handed the Pod as the apiserver has it');
});

test('a verdict judged against a copy of the host that named another policy is not recorded on the host as it is now: the replica answers again', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  // The host moves to a stricter policy while the replica's evidence is checked against the old one.
  const strict = `${s.policy}-strict`;
  await s.rest.request('POST', resourcePath(AttestationPolicies), { body: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: strict }, spec: { reattestIntervalSeconds: 1800 } } });
  t.teardown(() => s.rest.request('DELETE', resourcePath(AttestationPolicies, undefined, strict)).catch(() => undefined));
  // The verifier passes evidence only under the old policy (its interval tells them apart).
  const verify = (_r: unknown, context: { policy: { reattestIntervalSeconds?: number } | undefined }): VerifyOutcome =>
    context.policy?.reattestIntervalSeconds === 3600 ? passed : { verified: false, reasons: [{ code: 'MEASUREMENT_NOT_ALLOWED', message: 'strict policy' }], claims: { simulated: false, gpus: [] } };
  const rest = await countingRest(t);
  const caches = await currentCaches(s, [pod]);
  const svc = new AttestationService({
    rest, fence: NO_FENCE, config: s.config, verify,
    providerNodes: new ProviderNodeReads({ rest, cache: caches.providerNodes }),
    replicaCaches: { pods: caches.pods, pools: caches.pools },
  });
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: s.tenantNs, pod: 'llm-0' };
  const challenge = await post(svc, '/v1/challenge', token, { subject });
  t.is(challenge.status, 200, JSON.stringify(challenge.body));
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node), { contentType: 'application/merge-patch+json', body: { spec: { policyRef: { name: strict } } } });
  const answer = () => post(svc, '/v1/evidence', token, { subject, nonce: (challenge.body as { nonce: string }).nonce, publicKey: 'ef'.repeat(32), cpu: { type: 'sev-snp', report: randomBytes(1184).toString('base64') }, gpus: [] });
  const first = await answer();
  t.is(first.status, 503, `judged against the old policy, refused for the retry: ${JSON.stringify(first.body)}`);
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [], [], 'no key recorded under the old policy');
  const again = await answer();
  t.is(again.status, 200, JSON.stringify(again.body));
  t.false((again.body as { verified: boolean }).verified, 'judged against the policy the host names now');
});

test('a policy the cache does not hold is read from the apiserver, so evidence is verified against a policy created moments ago; one in neither is PolicyNotFound', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const caches = await currentCaches(s, [pod]);
  caches.policies = new Store(); // as if the policy were created after the cache synced
  const rest = await countingRest(t);
  const r = await attestReplica(cachedService(s, rest, caches), s, pod);
  t.true(r.body.verified, JSON.stringify(r.body));
  t.is(rest.count('GET attestationpolicies'), 2, 'asked of the apiserver for the challenge and for the evidence');

  // A node whose policy exists nowhere: the service asks the apiserver before it refuses the answer.
  const missing = await nodeSetup(t, { policy: false });
  const noPolicy = await countingRest(t);
  const token = await boundToken(missing.rest, missing.attesterNs, ATTESTER_SA, { kind: 'Node', name: missing.node, uid: missing.nodeUid });
  const refused = await post(cachedService(missing, noPolicy, emptyCaches()), '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: missing.node }, missing.nonce));
  t.is(refused.status, 200, JSON.stringify(refused.body));
  t.deepEqual((refused.body as { reasons: Array<{ code: string }> }).reasons.map((x) => x.code), ['POLICY_NOT_FOUND']);
  t.is(noPolicy.count('GET attestationpolicies'), 1, 'the missing policy was confirmed with the apiserver');
});

test('a host whose Attested condition is still True but whose attestation has expired is not attested for a replica verdict', async (t) => {
  // Seen in the chaos bench at 2,000 nodes: a node's attestation expired and, its controller reconcile
  // waiting in a backlog, it still read Attested=True 6.5 minutes later. The expiry needs no reconcile.
  // The node's attestation runs out; nothing rewrites its condition.
  const { s, r } = await evidenceAfterHostChange(t, { attestation: { expiresAt: new Date(Date.now() - 1000).toISOString() } });
  const host = await getProviderNode(s.rest, s.node);
  t.true(host.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True'), 'the condition still says Attested');
  t.is(r.status, 200, JSON.stringify(r.body));
  const body = r.body as { verified: boolean; reasons: Array<{ code: string; message: string }> };
  t.false(body.verified);
  t.is(body.reasons[0]?.code, 'HOST_NOT_ATTESTED');
  t.deepEqual((await getProviderNode(s.rest, s.node)).status?.attestedReplicas ?? [], [], 'no key recorded');
});

test('a node\'s challenge request is answered from the cache: none, without reading the ProviderNode from the apiserver, while the copy shows none; the challenge once the cache shows it', async (t) => {
  const s = await nodeSetup(t);
  const rest = await countingRest(t);
  const caches = await currentCaches(s, []);
  // The copy as it stands between two challenges: none pending.
  const between = structuredClone(caches.providerNodes.get(undefined, s.node)!);
  delete between.status?.attestation?.challenge;
  caches.providerNodes.put(between);
  const svc = cachedService(s, rest, caches);
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const ask = () => post(svc, '/v1/challenge', token, { subject: { kind: 'node', nodeName: s.node } });

  // The controller issues a challenge; the cache has not shown it yet (nor does it within the wait).
  const nonce = randomBytes(32).toString('hex');
  const issued = await s.rest.request<ProviderNode & KubeObject>('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { challenge: { nonce, issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 120_000).toISOString() } } } },
  });
  rest.sent.length = 0;
  const none = await ask();
  t.is(none.status, 503, JSON.stringify(none.body));
  t.regex((none.body as { error: string }).error, /no challenge pending/);
  t.is(rest.count('GET providernodes'), 0, 'a poll whose copy shows no challenge is not a read of the apiserver');

  // The cache shows it half a second after the request came: that request gets it.
  setTimeout(() => caches.providerNodes.put(issued), 500);
  const shown = await ask();
  t.is(shown.status, 200, JSON.stringify(shown.body));
  t.is((shown.body as { nonce: string }).nonce, nonce);
  t.is(rest.count('GET providernodes'), 0);
});
