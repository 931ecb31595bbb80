// Issue 4's must-show, end to end against a private control plane, the whole operator in this process
// and a 50-node simulated fleet: an InferencePool of 8 replicas is placed, attested and Ready; then one
// node that hosts replicas turns bad (its GPUs leave confidential-computing mode, seen at its next
// periodic re-attestation), and the operator quarantines it, cordons and taints its Node, evicts its
// replicas and places replacements on other attested nodes until the pool is Ready again.
// Every assertion reads what the apiserver shows, never the operator's memory.
import test from 'ava';
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { isConflict, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, LABEL_POOL, READINESS_GATE_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import type { ControlPlane } from '../../dev/cluster/control-plane.js';
import { createFleet, LABEL_FLEET, type Fleet } from '../../dev/fleet/fleet.js';
import { startPrivateOperator, type LocalOperator, type PrivateOperator } from '../../dev/fleet/operator.js';

const NODES = 50;
const REPLICAS = 8;
const PREFIX = 'pool';
const POLICY = 'fleet-pool';
const NS = 'pool-test';
const POOL = 'llama';
// The CRD's minimum re-attestation interval, so a node's next evidence comes within half a minute. The
// policy's CEL rules want the evidence age and quarantine grace below it.
const REATTEST_SECONDS = 30;

let stack: PrivateOperator;
let plane: ControlPlane;
let operator: LocalOperator;
let kc: KubeConfig;
let rest: RestClient;

test.before(async () => {
  stack = await startPrivateOperator({ rest: { qps: 100, burst: 200 } });
  ({ plane, operator, kc, rest } = stack);
});
test.after.always(async () => {
  await stack?.stop();
});

type Cond = { type: string; status: string; reason?: string; message?: string };
const cond = (conditions: Cond[] | undefined, type: string) => conditions?.find((c) => c.type === type);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `; last seen: ${await describe().catch(String)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function providerNodes(): Promise<Map<string, ProviderNode>> {
  const list = await rest.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes), { query: { labelSelector: `${LABEL_FLEET}=${PREFIX}` } });
  return new Map(list.items.map((p) => [p.metadata.name ?? '', p]));
}

const getPool = () => rest.request<InferencePool>('GET', resourcePath(InferencePools, NS, POOL));

/** The pool's replica Pods as the apiserver lists them (terminating ones included). */
async function replicaPods(): Promise<V1Pod[]> {
  const list = await rest.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${NS}/pods`, { query: { labelSelector: `${LABEL_POOL}=${POOL}` } });
  return list.items;
}

const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);
const attestedNow = (pn: ProviderNode | undefined) => cond(pn?.status?.conditions, 'Attested')?.status === 'True';

/** Status counts, conditions and Pods, in one line for a timeout message. */
async function describePool(): Promise<string> {
  const [pool, pods] = await Promise.all([getPool(), replicaPods()]);
  const conds = (pool.status?.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason}: ${c.message})`).join(' ');
  const podLines = pods.map((p) => `${p.metadata?.name}@${p.spec?.nodeName ?? '-'}${p.metadata?.deletionTimestamp ? '(terminating)' : ''} gate=${p.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED)?.status ?? '-'} ready=${p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '-'}`);
  return `replicas ${JSON.stringify(pool.status?.replicas)} ${conds} pods [${podLines.join(', ')}]`;
}

/** The pool is Ready with all replicas placed, attested and ready; returns its status. */
async function poolReady(): Promise<InferencePool | undefined> {
  const pool = await getPool();
  const r = pool.status?.replicas;
  const ready = cond(pool.status?.conditions, 'Ready');
  const fresh = pool.status?.observedGeneration === pool.metadata.generation;
  return fresh && ready?.status === 'True' && r?.desired === REPLICAS && r.placed === REPLICAS && r.attested === REPLICAS && r.ready === REPLICAS ? pool : undefined;
}

test.serial(`a pool of ${REPLICAS} replicas on a ${NODES}-node fleet is placed, attested and Ready; a node turning bad is quarantined, its replicas re-placed, and the pool is Ready again`, async (t) => {
  const started = Date.now();
  const phase = (what: string) => t.log(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);

  const fleet: Fleet = await createFleet(kc, {
    nodes: NODES, serviceUrl: operator.serviceUrl, ca: operator.ca, namePrefix: PREFIX, policyName: POLICY,
    providers: 4, reattestIntervalSeconds: REATTEST_SECONDS, usageIntervalMs: 10_000,
  });
  // Only the attesters stop: deleting 50 Nodes under a running operator would only churn the pool, and
  // this control plane goes away with the test.
  t.teardown(() => fleet.stop());
  const policy = await rest.request<{ spec: Record<string, unknown> }>('GET', resourcePath(AttestationPolicies, undefined, POLICY));
  // The fleet gives a short interval an evidence age and a grace below it, as the CRD requires.
  t.like(policy.spec, { reattestIntervalSeconds: REATTEST_SECONDS, maxEvidenceAgeSeconds: 24, quarantineGraceSeconds: 10, allowSimulated: true });

  // Placement never moves a running replica, so the pool comes once the whole fleet has attested.
  await until(`all ${NODES} ProviderNodes Attested=True`, async () => {
    const m = await providerNodes();
    return m.size === NODES && [...m.values()].every(attestedNow) ? m : undefined;
  }, 90_000, async () => `${[...(await providerNodes()).values()].filter(attestedNow).length} attested`);
  phase(`${NODES} nodes attested`);

  await rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } }).catch((e) => { if (!isConflict(e)) throw e; });
  await rest.request('POST', resourcePath(InferencePools, NS), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: POOL },
    spec: {
      model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'pvc://models/llama-3.1-8b-instruct', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: REPLICAS, max: REPLICAS }, gpusPerReplica: 2, gpuModels: ['H100'],
      tee: { types: ['simulated'], gpuCCRequired: true },
      placement: { spreadAcrossProviders: true, maxPerNode: 2 },
      maxPriceCoefficient: 1500, settlementAccountRef: { name: 'sandbox' },
    },
  } });

  // --- 1. All replicas placed, attested and ready; the pool says Ready=True. ---
  const readyPool = await until('the pool Ready with 8 placed, attested and ready', poolReady, 90_000, describePool);
  phase('pool Ready');
  const pns = await providerNodes();
  const before = await replicaPods();
  t.is(before.length, REPLICAS, 'exactly the desired replica Pods exist');
  for (const pod of before) {
    const node = pod.spec?.nodeName;
    t.truthy(node, `${pod.metadata?.name} is bound`);
    t.is(pod.spec?.schedulerName, 'chrysalis', `${pod.metadata?.name} is the operator's to place`);
    t.true(attestedNow(pns.get(node!)), `${pod.metadata?.name} sits on ${node}, whose ProviderNode is Attested`);
    t.is(pod.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED)?.status, 'True', `${pod.metadata?.name}: its own attestation gate is True`);
    t.is(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', `${pod.metadata?.name} is Ready`);
  }
  t.deepEqual(
    new Set((readyPool.status?.placements ?? []).map((p) => `${p.pod}@${p.node}`)),
    new Set(before.map((p) => `${p.metadata?.name}@${p.spec?.nodeName}`)),
    'status.placements names exactly the bound Pods',
  );

  // --- 2. The node hosting the most replicas turns bad: from its next evidence on, its GPUs are out of CC mode. ---
  const perNode = new Map<string, V1Pod[]>();
  for (const pod of before) perNode.set(pod.spec!.nodeName!, [...(perNode.get(pod.spec!.nodeName!) ?? []), pod]);
  const [badNode, badPods] = [...perNode.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
  const badUids = new Set(badPods.map((p) => p.metadata!.uid!));
  const keptUids = new Set(before.filter((p) => !badUids.has(p.metadata!.uid!)).map((p) => p.metadata!.uid!));
  const verifiedBefore = pns.get(badNode)!.status!.attestation!.verifiedAt!;
  await fleet.injectFault(badNode, 'gpu-cc-off');
  phase(`fault injected on ${badNode} (hosts ${badPods.length} replicas: ${badPods.map((p) => p.metadata?.name).join(', ')})`);

  // Watched from the fault on: no new replica of the pool ever lands on the bad node.
  const misplaced = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const pods = await replicaPods().catch(() => []);
      for (const p of pods) if (p.spec?.nodeName === badNode && !badUids.has(p.metadata!.uid!)) misplaced.add(`${p.metadata?.name} (${p.metadata?.uid})`);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();

  // --- 3. Quarantined, with a reason naming the failed check. ---
  const quarantined = await until(`${badNode} Quarantined=True`, async () => {
    const pn = (await providerNodes()).get(badNode);
    return cond(pn?.status?.conditions, 'Quarantined')?.status === 'True' ? pn : undefined;
  }, (REATTEST_SECONDS + 30) * 1000, async () => JSON.stringify((await providerNodes()).get(badNode)?.status?.conditions));
  phase(`${badNode} quarantined`);
  const q = cond(quarantined.status?.conditions, 'Quarantined')!;
  t.is(q.reason, 'ReattestationFailed', 'quarantined because evidence that once passed no longer does');
  t.regex(q.message ?? '', /GPU_CC_DISABLED/, `the reason names the failed check: ${q.message}`);
  t.is(quarantined.status?.quarantine?.reason, 'ReattestationFailed');
  t.regex(quarantined.status?.attestation?.lastFailure?.code ?? '', /GPU_CC_DISABLED/);
  t.true(Date.parse(quarantined.status!.attestation!.lastFailure!.at!) > Date.parse(verifiedBefore), 'the failure is of evidence sent after the last pass');
  t.not(cond(quarantined.status?.conditions, 'Attested')?.status, 'True', 'no longer Attested');
  t.is(cond(quarantined.status?.conditions, 'Schedulable')?.status, 'False', 'not Schedulable');

  // --- 4. The Node is cordoned, tainted and loses the attested label. ---
  const node = await until(`Node ${badNode} cordoned and tainted`, async () => {
    const n = await rest.request<V1Node>('GET', resourcePath(Nodes, undefined, badNode));
    return n.spec?.unschedulable === true && (n.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED) ? n : undefined;
  }, 30_000);
  t.true(node.spec?.unschedulable, 'cordoned');
  t.true((node.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED && x.effect === 'NoSchedule'), 'tainted unattested');
  t.is(node.metadata?.labels?.[LABEL_ATTESTED], undefined, 'attested label removed');

  // --- 5. Its replicas are evicted (the Pods with those uids are gone, not just marked). ---
  await until(`the replicas on ${badNode} evicted`, async () => {
    const pods = await replicaPods();
    return pods.some((p) => badUids.has(p.metadata!.uid!)) ? undefined : true;
  }, 30_000, describePool);
  phase(`replicas on ${badNode} evicted`);

  // --- 6. The pool is Ready again: 8 ready replicas, the replacements on other attested nodes. ---
  const recovered = await until('the pool Ready again with 8 ready replicas', async () => {
    const pool = await poolReady();
    if (!pool) return undefined;
    const pods = await replicaPods();
    // Ready counted from the replacements, not from a status written before the eviction.
    return pods.length === REPLICAS && !pods.some((p) => badUids.has(p.metadata!.uid!)) ? { pool, pods } : undefined;
  }, 60_000, describePool);
  phase('pool Ready again');
  watching = false;
  await watcher;

  const pnsAfter = await providerNodes();
  t.is(live(recovered.pods).length, REPLICAS, 'eight live replicas');
  const replacements = recovered.pods.filter((p) => !keptUids.has(p.metadata!.uid!));
  t.is(replacements.length, badPods.length, 'one replacement per evicted replica');
  t.deepEqual(new Set(recovered.pods.filter((p) => keptUids.has(p.metadata!.uid!)).map((p) => p.metadata!.uid)), keptUids, 'replicas on healthy nodes were left alone');
  for (const pod of recovered.pods) {
    const where = pod.spec?.nodeName;
    t.truthy(where, `${pod.metadata?.name} is bound`);
    t.not(where, badNode, `${pod.metadata?.name} is not on the quarantined node`);
    t.true(attestedNow(pnsAfter.get(where!)), `${pod.metadata?.name} sits on ${where}, whose ProviderNode is Attested`);
    t.is(cond(pnsAfter.get(where!)?.status?.conditions, 'Quarantined')?.status, 'False', `${where} is not quarantined`);
    t.is(pod.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED)?.status, 'True', `${pod.metadata?.name}: attestation gate True`);
    t.is(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', `${pod.metadata?.name} is Ready`);
  }
  t.false((recovered.pool.status?.placements ?? []).some((p) => p.node === badNode), 'status.placements no longer name the bad node');
  t.like(recovered.pool.status?.replicas, { desired: REPLICAS, placed: REPLICAS, attested: REPLICAS, ready: REPLICAS });
  t.is(cond(recovered.pool.status?.conditions, 'Ready')?.status, 'True');
  t.deepEqual([...misplaced], [], 'no new replica was ever placed on the bad node');

  // The bad node is still quarantined (its evidence keeps failing) and holds none of the pool's replicas.
  const stillBad = (await providerNodes()).get(badNode);
  t.is(cond(stillBad?.status?.conditions, 'Quarantined')?.status, 'True', 'the quarantine stays while the evidence keeps failing');
  const onBad = await rest.request<{ items: V1Pod[] }>('GET', '/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${badNode}` } });
  t.deepEqual(onBad.items.filter((p) => p.metadata?.labels?.[LABEL_POOL]).map((p) => p.metadata?.name), [], 'no replica on the bad node');
  // Each evicted replica's simulated sidecar sent its last report as its Pod went, as the attester does on
  // SIGTERM (its host is quarantined, so the service refuses it: counted, not accepted).
  await until('a last report from each evicted replica', async () => {
    const { accepted, notAccepted } = fleet.stats().finalReports;
    return accepted + notAccepted >= badPods.length ? true : undefined;
  }, 30_000, async () => JSON.stringify(fleet.stats().finalReports));
  phase(`last reports of the evicted replicas: ${JSON.stringify(fleet.stats().finalReports)}`);

  // The fleet's own books, which the chaos bench checks metering against: every replica it ran, the
  // evicted ones marked gone on the bad node with their count stopped when their Pod went (a count that
  // ran on would show tokens no replica served), and no report carrying more than was served.
  const books = fleet.usageLedger();
  t.is(books.length, REPLICAS + badPods.length, 'one entry per replica the fleet ran: the pool and the replacements');
  const gone = books.filter((b) => b.gone);
  t.deepEqual(gone.map((b) => b.pod).sort(), badPods.map((p) => `${NS}/${p.metadata!.name}`).sort(), 'the evicted replicas, and only they, are gone');
  t.deepEqual([...new Set(gone.map((b) => b.node))], [badNode], 'on the node they ran on');
  await new Promise((r) => setTimeout(r, 1500));
  const later = new Map(fleet.usageLedger().map((b) => [b.pod, b]));
  for (const b of gone) t.deepEqual(later.get(b.pod)?.served, b.served, `${b.pod}: a gone replica serves nothing more`);
  for (const b of later.values()) {
    t.true(b.served.promptTokens > 0n, `${b.pod} served tokens`);
    for (const field of ['promptTokens', 'generationTokens'] as const) {
      t.true(b.accepted[field] <= b.sent[field] && b.sent[field] <= b.served[field], `${b.pod}: ${field} accepted ${b.accepted[field]} ≤ sent ${b.sent[field]} ≤ served ${b.served[field]}`);
    }
  }
});
