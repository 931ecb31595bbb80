// `npm run bench -- chaos [--quick] [--nodes N] [--replicas R] [--replicas-per-pool P] [--gpus-per-replica G]
// [--usage-interval S] [--reattest S] [--challenge-ttl S] [--replica-renew S]`: faults at fleet scale, bounded in time. A placement plus
// settlement runs on a simulated fleet (N nodes, default 200; --quick 40; R replicas, default one per node,
// in pools of P, default 4, of G GPUs each, default 2) with the operator deployed as the
// chart deploys it — two controller processes electing a leader, and an attestation-service process —
// and, while it runs:
//   1. kill -9 of the controllers' leader during placement (a replacement process starts, as a
//      Deployment would restart the Pod);
//   2. a kube-apiserver restart once placement is done (etcd keeps the data), with a pool scaled up
//      right after, so the recovery is the controller acting on a watch event again;
//   3. a stalled chain endpoint: the sandbox chain's state lock is held by a live process for longer
//      than the operator's lock timeout, so every unit of work hangs and then fails, as a chain endpoint
//      that accepts connections and never answers;
//   4. 5% of the nodes that host replicas quarantined (their next evidence has GPU CC off).
// It then ends the sample traffic and waits until everything has settled, and checks what must hold:
// no duplicate or orphan replica, every pool Ready with every replica on an Attested, unquarantined
// node, paid == committed == metered, and metered == what the replicas served by the fleet's own books
// (every token served on a never-quarantined host accepted, no node metered beyond what its replicas
// reported: _metering-books.ts). Each recovery time is printed; the last line is JSON, whose
// `ours` is the time from the last fault's end to that settled state and whose `baseline` is one commit
// period (the ratio is in commit periods). Any invariant that does not hold fails the bench (exit 1).
//
// Size: the fleet simulator runs one attester per node and one per replica in this process, so the
// default is 200 nodes (--nodes raises it). The placement bench's full size, 2,000 nodes with 1,000 pools
// of 8 replicas, is `--nodes 2000 --replicas 8000 --replicas-per-pool 8 --gpus-per-replica 1`; a shape
// that fills more than 90% of the GPUs is refused, so the quarantined nodes' replicas have somewhere to
// go. On 2 cores the full size does not complete: kube-apiserver falls behind (docs/BENCHMARKS.md, "Faults at
// fleet scale"). Every replica reports usage every
// --usage-interval seconds (default 5, twelve times the attester's default 60 s, so settlement has
// traffic within the run): at 1,000 replicas that is 200 reports a second, two requests each for the
// attestation service, more than its 200-a-second client budget here, so larger fleets take a longer one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions, BenchResult } from './run.js';
import { numberFlag as flag, operatorNodeFlags } from './_flags.js';
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { freePort } from '../../dev/cluster/ports.js';
import { installCrds } from '../../dev/install-crds.js';
import { createFleet } from '../../dev/fleet/fleet.js';
import { providerClaims } from '../../dev/fleet/claims.js';
import { FLEET_ATTESTER_SERVICE_ACCOUNT } from '../../dev/fleet/operator.js';
import { selfSignedTls } from '../../operator/src/attestation/service/https-server.js';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { CONDITION_UNDERFUNDED } from '../../operator/src/controllers/settlementaccount/reconciler.js';
import { getCondition } from '../../operator/src/kube/conditions.js';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL, LABEL_REPLICA } from '../../operator/src/marks.js';
import { sandboxStateDir } from '../../operator/src/settlement/keys.js';
import { checkMeteringBooks } from './_metering-books.js';
import { quarantinedHosts, summarizeDetection } from './_quarantine-detection.js';
import { inBatches } from '../inferencepool/kube-fixtures.js';
import { busiestPerSecond, operatorRequests, requestsBetween, type OperatorRequests } from './_operator-requests.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const NS = 'chrysalis-chaos';
const LEASE_NS = 'chrysalis-system';
const COMMIT_PERIOD_SECONDS = 15;
const GPUS_PER_NODE = 8;
const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/**
 * How often `until` probes. Probes read the bench's own caches (below), so this costs the apiserver
 * nothing; it bounds how coarse the recovery times it prints are.
 */
const probeEveryMs = 250;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // A probe that fails (a LIST the apiserver did not answer in time) counts as "not yet"; once a minute
  // the bench says so, since a wait that only fails is not the operator's slowness but the probe's.
  let failed = 0;
  let lastError = '';
  let nextFailureReport = Date.now() + 60_000;
  for (;;) {
    const v = await probe().catch((err: Error) => { failed++; lastError = err.message; return undefined; });
    if (v !== undefined && v !== false) return v;
    if (failed && Date.now() > nextFailureReport) {
      log(`  (waiting for ${what}: ${failed} probe${failed === 1 ? '' : 's'} failed in the last minute; last: ${lastError.slice(0, 200)})`);
      failed = 0;
      nextFailureReport = Date.now() + 60_000;
    }
    if (Date.now() > deadline) throw new Error(`chaos: timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last failed probe: ${lastError.slice(0, 200)})` : ''}`);
    await sleep(probeEveryMs);
  }
}

const isTrue = (o: { status?: { conditions?: Array<{ type: string; status: string }> } }, type: string) =>
  o.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
/** An Attested, unquarantined node: one the operator places replicas on. Otherwise it is refused. */
const takesWork = (n: ProviderNode) => isTrue(n, 'Attested') && !isTrue(n, 'Quarantined');
const seconds = (fromMs: number, toMs = Date.now()) => Math.round((toMs - fromMs) / 100) / 10;
const num = (v: unknown) => (Number.isFinite(Number(v ?? 0)) ? Number(v ?? 0) : 0);

interface Snapshot {
  pools: InferencePool[];
  nodes: ProviderNode[];
  pods: Array<{ metadata: { name: string; labels?: Record<string, string>; ownerReferences?: Array<{ uid: string; controller?: boolean }>; deletionTimestamp?: string }; spec: { nodeName?: string } }>;
  account: SettlementAccount | undefined;
}

/**
 * What the bench watches: every pool, ProviderNode, replica Pod and SettlementAccount, in informers (the
 * operator's own list + watch caches). Probing by LIST instead cost the apiserver megabytes of JSON per
 * probe: at 2,000 nodes a LIST of the ProviderNodes (about 10 KB each) was not answered within 30 s,
 * so nearly every probe failed while still loading the apiserver that the operator depends on.
 */
interface Watched {
  pools: Informer<InferencePool & KubeObject>;
  nodes: Informer<ProviderNode & KubeObject>;
  pods: Informer<Snapshot['pods'][number] & KubeObject>;
  accounts: Informer<SettlementAccount & KubeObject>;
}

function watchCluster(rest: RestClient): Watched {
  const watched: Watched = {
    pools: new Informer<InferencePool & KubeObject>({ client: rest, resource: InferencePools, namespace: NS }),
    nodes: new Informer<ProviderNode & KubeObject>({ client: rest, resource: ProviderNodes }),
    pods: new Informer<Snapshot['pods'][number] & KubeObject>({ client: rest, resource: Pods, namespace: NS, labelSelector: LABEL_POOL }),
    accounts: new Informer<SettlementAccount & KubeObject>({ client: rest, resource: SettlementAccounts, namespace: NS }),
  };
  for (const informer of Object.values(watched)) informer.start();
  return watched;
}

/** What the caches hold now; rejects until every informer has synced. */
async function snapshot(w: Watched): Promise<Snapshot> {
  if (![w.pools, w.nodes, w.pods, w.accounts].every((i) => i.hasSynced())) throw new Error('the bench\'s caches have not synced yet');
  return { pools: w.pools.list(), nodes: w.nodes.list(), pods: w.pods.list(), account: w.accounts.list()[0] };
}

/**
 * The same, read from the apiserver in pages of 500 as an informer relists: the end state is confirmed
 * this way too, so a cache that lags cannot pass it.
 */
async function listedSnapshot(rest: RestClient): Promise<Snapshot> {
  const listAll = async <T>(path: string, query: Record<string, string> = {}) => {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await rest.request<{ items: T[]; metadata: { continue?: string } }>('GET', path, { query: { ...query, limit: 500, continue: cont } });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
    } while (cont);
    return items;
  };
  const [pools, nodes, pods, accounts] = await Promise.all([
    listAll<InferencePool>(resourcePath(InferencePools, NS)),
    listAll<ProviderNode>(resourcePath(ProviderNodes)),
    listAll<Snapshot['pods'][number]>(resourcePath(Pods, NS), { labelSelector: LABEL_POOL }),
    listAll<SettlementAccount>(resourcePath(SettlementAccounts, NS)),
  ]);
  return { pools, nodes, pods, account: accounts[0] };
}

/** What must hold at the end; an empty list means everything does. */
function violations(s: Snapshot): string[] {
  const out: string[] = [];
  const healthy = new Set(s.nodes.filter(takesWork).map((n) => n.spec.nodeName));
  const poolsByUid = new Map(s.pools.map((p) => [p.metadata.uid!, p]));
  const seen = new Set<string>();
  for (const pod of s.pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const poolName = pod.metadata.labels?.[LABEL_POOL] ?? '';
    const owner = pod.metadata.ownerReferences?.find((r) => r.controller);
    const pool = owner ? poolsByUid.get(owner.uid) : undefined;
    if (!pool || pool.metadata.name !== poolName) { out.push(`orphan replica ${pod.metadata.name} (no live pool owns it)`); continue; }
    const key = `${poolName}/${pod.metadata.labels?.[LABEL_REPLICA]}`;
    if (seen.has(key)) out.push(`duplicate replica ${key}`);
    seen.add(key);
    if (!pod.spec.nodeName || !healthy.has(pod.spec.nodeName)) out.push(`replica ${pod.metadata.name} on ${pod.spec.nodeName ?? 'no node'}, not an Attested, unquarantined node`);
  }
  for (const pool of s.pools) {
    if (!isTrue(pool, 'Ready')) out.push(`pool ${pool.metadata.name} not Ready`);
    const live = s.pods.filter((p) => p.metadata.labels?.[LABEL_POOL] === pool.metadata.name && !p.metadata.deletionTimestamp).length;
    // A replacement replica takes a new index (the old name may still be terminating), so a duplicate
    // shows as more live replicas than the pool wants, not as a repeated index.
    if (live !== pool.spec.replicas.min) out.push(`pool ${pool.metadata.name} has ${live} live replicas, wants ${pool.spec.replicas.min}`);
  }
  const totals = (s.account?.status as { totals?: Record<string, unknown> } | undefined)?.totals;
  const [metered, committed, paid] = [num(totals?.metered), num(totals?.committed), num(totals?.paid)];
  if (!(metered > 0 && paid === committed && committed === metered)) {
    // A contract that cannot pay what is owed says so (Underfunded): claims are refused until it is funded.
    const underfunded = getCondition(s.account?.status?.conditions, CONDITION_UNDERFUNDED);
    out.push(`settlement: metered ${metered}, committed ${committed}, paid ${paid}${underfunded?.status === 'True' ? ` (Underfunded: ${underfunded.message})` : ''}`);
  }
  return out;
}

/**
 * Which part of the quarantine's end is not reached yet: nodes not refused (with what their conditions
 * say), replicas still on refused nodes (live or terminating, with where one is), pools not Ready.
 */
function quarantineProgress(s: Snapshot, quarantined: readonly string[], refused: ReadonlySet<string>, stillOn: Snapshot['pods'], notReady: readonly InferencePool[]): string {
  const conditions = (n: ProviderNode) => (n.status?.conditions ?? []).filter((c) => c.type === 'Attested' || c.type === 'Quarantined').map((c) => `${c.type}=${c.status} ${c.reason ?? ''}`.trim()).join(', ');
  const notRefused = s.nodes.filter((n) => quarantined.includes(n.spec.nodeName) && !refused.has(n.spec.nodeName));
  const terminating = stillOn.filter((p) => p.metadata.deletionTimestamp).length;
  return [
    `${refused.size} of ${quarantined.length} quarantined nodes refused${notRefused.length ? ` (not yet, e.g. ${notRefused.slice(0, 2).map((n) => `${n.spec.nodeName}: ${conditions(n)}; verified ${n.status?.attestation?.verifiedAt ?? 'never'}`).join(' | ')})` : ''}`,
    `${stillOn.length - terminating} live and ${terminating} terminating replicas on refused nodes${stillOn.length ? ` (e.g. ${stillOn[0]!.metadata.name} on ${stillOn[0]!.spec.nodeName})` : ''}`,
    `${notReady.length} pools not Ready${notReady.length ? ` (e.g. ${notReady[0]!.metadata.name}: ${(notReady[0]!.status?.conditions ?? []).filter((c) => c.type === 'Ready').map((c) => `${c.reason}: ${c.message ?? ''}`.slice(0, 160)).join('')})` : ''}`,
  ].join('; ');
}

export default async function chaos({ quick, args }: BenchOptions): Promise<BenchResult> {
  const nodes = flag(args, '--nodes', quick ? 40 : 200);
  const replicasPerPool = flag(args, '--replicas-per-pool', 4);
  const gpusPerReplica = flag(args, '--gpus-per-replica', 2);
  const pools = Math.max(2, Math.round(flag(args, '--replicas', nodes) / replicasPerPool));
  const replicas = pools * replicasPerPool;
  // 5% of the hosts are quarantined and their replicas must fit on the rest, with one replica more.
  if (replicas * gpusPerReplica > 0.9 * nodes * GPUS_PER_NODE) {
    throw new Error(`chaos: ${replicas} replicas × ${gpusPerReplica} GPUs fill more than 90% of ${nodes} nodes × ${GPUS_PER_NODE} GPUs, and the quarantined nodes' replicas would have nowhere to go; lower --replicas or --gpus-per-replica, or raise --nodes`);
  }
  const quarantineCount = Math.max(1, Math.round(nodes * 0.05));
  const stallSeconds = 45;
  const usageIntervalSeconds = flag(args, '--usage-interval', 5);
  // Every node and replica re-attests this often (the policy's default is 3600 s): the quarantine fault
  // is found at the quarantined nodes' next re-attestation, so it bounds that recovery's time, and each
  // re-attestation is three ProviderNode status writes (two per replica) for the apiserver.
  const reattestSeconds = flag(args, '--reattest', 60);
  // The operator's challengeTtlSeconds (default 300). A verified subject's attestation lasts the
  // re-attestation interval plus this, and a replica renews a tenth to a fifth of that lifetime before it
  // lapses: with an interval shorter than 1,200 s and the default, every replica renews after its host's
  // next re-check, so a replica never notices a faulted host first, as with the defaults (3,600 s) most do.
  const challengeTtlSeconds = flag(args, '--challenge-ttl', 0) || undefined;
  // Each replica's attester renews at least this often (the sidecar's --reattest-interval): with renewals
  // more frequent than the hosts' re-checks, a faulted host's replicas notice first.
  const replicaRenewSeconds = flag(args, '--replica-renew', 0) || undefined;
  log(`chaos bench: ${nodes} simulated nodes × ${GPUS_PER_NODE} GPUs, ${pools} pools × ${replicasPerPool} replicas × ${gpusPerReplica} GPUs, usage reported every ${usageIntervalSeconds} s per replica, re-attestation every ${reattestSeconds} s${challengeTtlSeconds !== undefined ? ` (challenges live ${challengeTtlSeconds} s)` : ''}${replicaRenewSeconds !== undefined ? `, replicas renewing at least every ${replicaRenewSeconds} s` : ''}, settlement every ${COMMIT_PERIOD_SECONDS} s on the sandbox chain`);
  log(`faults: kill -9 of the controllers' leader during placement; kube-apiserver restart; chain stalled ${stallSeconds} s; ${quarantineCount} nodes (5%) quarantined`);

  const plane = await startControlPlane();
  const work = mkdtempSync(join(tmpdir(), 'chrysalis-chaos-'));
  const children = new Set<ChildProcess>();
  const logFd = openSync(join(work, 'operator.log'), 'a');
  const configArgs: string[] = [];
  if (challengeTtlSeconds !== undefined) {
    writeFileSync(join(work, 'operator-config.yaml'), `challengeTtlSeconds: ${challengeTtlSeconds}\n`);
    configArgs.push('--config', join(work, 'operator-config.yaml'));
  }
  const spawnOperator = (extra: string[]) => {
    const child = spawn(process.execPath, [...operatorNodeFlags(), '--import', 'tsx', join(root, 'operator/src/main.ts'), '--kubeconfig', plane.kubeconfigPath, ...configArgs, ...extra],
      { cwd: root, stdio: ['ignore', logFd, logFd], env: { ...process.env, CHRYSALIS_LOG_LEVEL: process.env.CHRYSALIS_LOG_LEVEL ?? 'warn' } });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const recoveries: Record<string, number> = {};
  // Every operator process's metrics port: once a minute the bench prints what each asked of the
  // apiserver in that minute, so a request rate that loads the plane is attributed to its client.
  const metricsPorts = new Map<string, number>();
  const lastRequests = new Map<string, { at: number; requests: OperatorRequests }>();
  const reportRequests = async () => {
    const lines: string[] = [];
    for (const [name, port] of metricsPorts) {
      // No answer: killed, or too busy to answer now (it is asked again next minute).
      const now = await operatorRequests(port).catch(() => undefined);
      if (!now) continue;
      const before = lastRequests.get(name);
      lastRequests.set(name, { at: Date.now(), requests: now });
      if (!before) continue;
      const window = requestsBetween(before.requests, now);
      const deferred = window.usageDeferred > 0 ? `; ${window.usageDeferred} usage reports deferred (429)` : '';
      lines.push(`${name}: ${busiestPerSecond(window, (Date.now() - before.at) / 1000)}${deferred}`);
    }
    // The bench's own process runs the whole fleet's attesters and the bench's watches: when its event loop
    // lags, the simulated nodes answer late, which is the simulator's limit, not the operator's.
    const lag = `bench process event-loop delay over the last minute: p99 ${(benchLoopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(benchLoopDelay.max / 1e6).toFixed(0)} ms`;
    benchLoopDelay.reset();
    if (lines.length) log(`  requests to the apiserver over the last minute, per operator process: ${lines.join('; ')}; ${lag}`);
  };
  const benchLoopDelay = monitorEventLoopDelay({ resolution: 20 });
  benchLoopDelay.enable();
  const requestReporter = setInterval(() => void reportRequests(), 60_000);
  let stopWatching = async () => {};
  let tearingDown = false;
  try {
    const kc = plane.kubeConfig();
    await installCrds(kc);
    const rest = new RestClient(kc, { qps: 500, burst: 1000 });
    const watched = watchCluster(rest);
    stopWatching = async () => { for (const informer of Object.values(watched)) await informer.stop(); };
    for (const ns of [LEASE_NS, NS]) await rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    const sandboxDir = join(work, 'sandbox');
    mkdirSync(sandboxDir);
    const tls = await selfSignedTls();
    writeFileSync(join(work, 'tls.crt'), tls.cert);
    writeFileSync(join(work, 'tls.key'), tls.key, { mode: 0o600 });
    const attestationPort = await freePort();

    // The operator as the chart deploys it.
    // The service gets the controllers' client budget: every replica reports usage every 5 s here (the
    // attester's default is 60 s). Each report used to cost the service about five requests, so 100
    // replicas alone needed more than the default 50 a second and attestation queued behind them; its
    // reads now come from its caches, and the bench prints what it still asks of the apiserver.
    const serviceMetricsPort = await freePort();
    const serviceStartedAt = Date.now();
    spawnOperator(['--components', 'attestation-service', '--attestation-port', String(attestationPort), '--metrics-port', String(serviceMetricsPort),
      '--tls-cert', join(work, 'tls.crt'), '--tls-key', join(work, 'tls.key'), '--attester-service-account', FLEET_ATTESTER_SERVICE_ACCOUNT, '--qps', '200', '--burst', '400']);
    metricsPorts.set('service', serviceMetricsPort);
    // A controller process that exits on its own (a leader that lost its Lease writes no more and exits)
    // is started again, as its Deployment's kubelet would; the bench's own kill -9 has its replacement below.
    const killedByBench = new Set<ChildProcess>();
    const spawnControllers = async (): Promise<ChildProcess> => {
      const port = await freePort();
      const child = spawnOperator(['--components', 'controllers', '--leader-elect', '--lease-namespace', LEASE_NS,
        '--metrics-port', String(port), '--sandbox-dir', sandboxDir, '--qps', '200', '--burst', '400']);
      metricsPorts.set(`controllers pid ${child.pid}`, port);
      child.once('exit', (code, signal) => {
        if (tearingDown || killedByBench.has(child)) return;
        recoveries.controllerRestarts = (recoveries.controllerRestarts ?? 0) + 1;
        void spawnControllers().then((next) => log(`  controllers pid ${child.pid} exited (${signal ?? `code ${code}`}); started again as pid ${next.pid}, as its Deployment would`));
      });
      return child;
    };
    const controllers = [await spawnControllers(), await spawnControllers()];
    log(`operator: two controller processes (pids ${controllers.map((c) => c.pid).join(', ')}) and the attestation service; logs in ${join(work, 'operator.log')}`);

    const fleet = await createFleet(kc, {
      nodes, serviceUrl: `https://127.0.0.1:${attestationPort}`, ca: tls.cert, providers: Math.max(1, Math.ceil(nodes / 10)),
      namePrefix: 'chaos', reattestIntervalSeconds: reattestSeconds, ...(replicaRenewSeconds !== undefined ? { replicaRenewSeconds } : {}), usageIntervalMs: usageIntervalSeconds * 1000, tokensPerSecond: 20,
    });
    await until('every node Attested', 600_000, async () => (await snapshot(watched)).nodes.filter((n) => isTrue(n, 'Attested')).length === nodes);
    log(`fleet attested: ${nodes} nodes`);

    await rest.request('POST', resourcePath(SettlementAccounts, NS), { body: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'sandbox', namespace: NS },
      // 100 nanotons a unit: the operator funds a sandbox contract with 100 TON, which at 1,000 a unit paid
      // for 100 million units, and a run at 4,000 replicas meters more (it stopped paying at 99.6 million,
      // its claims refused, Underfunded=True). At this price the funding covers a billion.
      spec: { network: 'sandbox', pricePerUnitNanoton: '100', commissionBasisPoints: 250, feeAddress: `0:${'f'.repeat(64)}`, commitPeriodSeconds: COMMIT_PERIOD_SECONDS, pushThresholdUnits: '1000' },
    } });
    // The providers claim after each confirmed epoch, as in the demo, so paid catches up with committed.
    // Only what held a claim back is printed (a payee refused by the contract, or claims that must wait):
    // paid lagging committed at the end is otherwise unexplained.
    const claims = await providerClaims(rest, NS, sandboxDir, (line) => { if (/refused|wait/.test(line)) log(line); });
    let endClaims!: () => void;
    const claimsDone = new Promise<void>((r) => (endClaims = r));
    const claimLoop = (async () => {
      for (let stop = false; !stop; ) {
        await claims.afterConfirmedEpochs().catch(() => undefined);
        stop = await Promise.race([sleep(2000).then(() => false), claimsDone.then(() => true)]);
      }
    })();

    // --- Placement, with the leader killed while it places. ---
    const placementStart = Date.now();
    // Applied 16 at a time: one at a time, on the loaded apiserver of a 1,000-pool run, 928 pools were in
    // when 5,479 replicas were already placed, and the leader would have been killed after placement.
    await inBatches(Array.from({ length: pools }, (_, i) => i), 16, async (i) => {
      await rest.request('POST', resourcePath(InferencePools, NS), { body: {
        apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: `pool-${i}`, namespace: NS },
        spec: {
          model: { name: `chaos/model-${i}`, source: `pvc://models/chaos-model-${i}`, hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
          runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
          replicas: { min: replicasPerPool, max: replicasPerPool }, gpusPerReplica, gpuModels: ['H100'],
          tee: { types: ['simulated'] }, placement: { spreadAcrossProviders: true, maxPerNode: 2 },
          settlementAccountRef: { name: 'sandbox' },
        },
      } });
    });
    const lease = async () => (await rest.request<{ spec?: { holderIdentity?: string } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/chrysalis-operator`)).spec?.holderIdentity;
    const leaderIdentity = await until('a controllers leader', 120_000, lease);
    const leader = controllers.find((c) => leaderIdentity.includes(`_${c.pid}_`));
    if (!leader) throw new Error(`chaos: the Lease holder ${leaderIdentity} is none of the controller processes`);
    const killedAt = Date.now();
    killedByBench.add(leader);
    leader.kill('SIGKILL');
    log(`[fault 1] kill -9 of the leader (pid ${leader.pid}) ${seconds(placementStart, killedAt)} s into placement`);
    const replacement = await spawnControllers();
    const newLeader = await until('another controllers leader', 180_000, async () => { const h = await lease(); return h && h !== leaderIdentity ? h : undefined; });
    recoveries.leaderTakeoverSeconds = seconds(killedAt);
    log(`  new leader ${newLeader} after ${recoveries.leaderTakeoverSeconds} s (the Lease's duration bounds it); replacement process pid ${replacement.pid}`);
    // Every replica is attested before its pool is Ready: about 20 verdicts a second on these 2 cores
    // at 2,000 replicas, 5 a second at 8,000, where the plane is loaded by far more. Once a minute the
    // wait says how far placement and attestation have come, from the pools' status.
    let nextPlacementReport = Date.now() + 60_000;
    await until('every pool Ready', Math.max(900, replicas / 2) * 1000, async () => {
      const s = await snapshot(watched);
      if (Date.now() > nextPlacementReport) {
        nextPlacementReport = Date.now() + 60_000;
        const sum = (field: 'placed' | 'attested' | 'ready') => s.pools.reduce((a, p) => a + num(p.status?.replicas?.[field]), 0);
        log(`  placing: ${s.pools.filter((p) => isTrue(p, 'Ready')).length}/${pools} pools Ready; replicas ${sum('placed')} placed, ${sum('attested')} attested, ${sum('ready')} ready of ${replicas} (${seconds(placementStart)} s)`);
      }
      return s.pools.length === pools && s.pools.every((p) => isTrue(p, 'Ready'));
    });
    recoveries.placementWithLeaderKillSeconds = seconds(placementStart);
    log(`  placement complete: every pool Ready ${recoveries.placementWithLeaderKillSeconds} s after the pools were applied`);

    // --- kube-apiserver restart, then a pool scaled up. ---
    const restartAt = Date.now();
    await plane.stopApiserver();
    await sleep(5000);
    await plane.startApiserver();
    const backAt = Date.now();
    log(`[fault 2] kube-apiserver restarted (down ${seconds(restartAt, backAt)} s)`);
    await rest.request('PATCH', resourcePath(InferencePools, NS, 'pool-0'), { contentType: 'application/merge-patch+json', body: { spec: { replicas: { min: replicasPerPool + 1, max: replicasPerPool + 1 } } } });
    await until('pool-0 Ready with one more replica', 300_000, async () => {
      const s = await snapshot(watched);
      const p = s.pools.find((x) => x.metadata.name === 'pool-0');
      return p && isTrue(p, 'Ready') && num(p.status?.replicas?.ready) === replicasPerPool + 1;
    });
    recoveries.apiserverRestartSeconds = seconds(backAt);
    log(`  the controllers acted again: pool-0 scaled and Ready ${recoveries.apiserverRestartSeconds} s after the apiserver came back`);

    // --- Quarantine 5% of the nodes that host replicas, and stall the chain meanwhile. ---
    const before = await snapshot(watched);
    const hosting = [...new Set(before.pods.map((p) => p.spec.nodeName).filter((n): n is string => !!n))].sort();
    const quarantined = hosting.slice(0, quarantineCount);
    const quarantineAt = Date.now();
    // When each quarantined host is first seen refused, from the bench's watch (the chain stall below
    // runs meanwhile, so a poll after it would time every refusal at its end).
    const refusedAt = new Map<string, number>();
    const quarantinedSet = new Set(quarantined);
    watched.nodes.onUpdate((_old, n) => {
      if (quarantinedSet.has(n.spec.nodeName) && !refusedAt.has(n.spec.nodeName) && !takesWork(n)) refusedAt.set(n.spec.nodeName, Date.now());
    });
    for (const node of quarantined) await fleet.injectFault(node, 'gpu-cc-off');
    log(`[fault 3] ${quarantined.length} replica-hosting nodes now send evidence with GPU CC off (${quarantined.join(', ')})`);
    const account = before.account!;
    const stateDir = sandboxStateDir(account, sandboxDir);
    const holder = spawn('sleep', [String(stallSeconds + 30)], { stdio: 'ignore' });
    writeFileSync(join(stateDir, 'lock'), String(holder.pid));
    const stallAt = Date.now();
    log(`[fault 4] chain endpoint stalled: its state lock held by pid ${holder.pid} for ${stallSeconds} s`);
    await sleep(stallSeconds * 1000);
    const epochAtStallEnd = num(((await snapshot(watched)).account?.status as { lastConfirmed?: { epoch?: unknown } } | undefined)?.lastConfirmed?.epoch);
    holder.kill('SIGKILL');
    const stallEnd = Date.now();
    await until('an epoch confirmed after the stall', 300_000, async () =>
      num(((await snapshot(watched)).account?.status as { lastConfirmed?: { epoch?: unknown } } | undefined)?.lastConfirmed?.epoch) > epochAtStallEnd);
    recoveries.chainStallSeconds = seconds(stallEnd);
    log(`  settlement resumed: an epoch confirmed ${recoveries.chainStallSeconds} s after the stall ended (stall began ${seconds(stallAt, stallEnd)} s before)`);
    let nextQuarantineReport = Date.now() + 60_000;
    // A quarantined node is found at its next re-check (up to one interval away, and later when re-checks
    // wait for challenge slots), and refused at the third rejected answer to that challenge.
    const quarantineTimeoutMs = Math.max(600, 2 * reattestSeconds) * 1000;
    await until('the quarantined nodes emptied and every pool Ready elsewhere', quarantineTimeoutMs, async () => {
      const s = await snapshot(watched);
      const out = new Set(s.nodes.filter((n) => quarantined.includes(n.spec.nodeName) && !takesWork(n)).map((n) => n.spec.nodeName));
      const stillOn = s.pods.filter((p) => out.has(p.spec.nodeName ?? ''));
      const notReady = s.pools.filter((p) => !isTrue(p, 'Ready'));
      if (Date.now() > nextQuarantineReport) {
        nextQuarantineReport = Date.now() + 60_000;
        log(`  waiting: ${quarantineProgress(s, quarantined, out, stillOn, notReady)}; replica attester restarts ${fleet.stats().replicaAttesterRestarts}`);
      }
      return out.size === quarantined.length && stillOn.length === 0 && notReady.length === 0;
    });
    recoveries.quarantineSeconds = seconds(quarantineAt);
    log(`  quarantine: the ${quarantined.length} nodes refused, their replicas placed elsewhere and every pool Ready ${recoveries.quarantineSeconds} s after the fault (re-attestation every ${reattestSeconds} s)`);
    // How each was found: at its own re-check, or earlier, through a replica's failure (HostSuspect).
    const detection = summarizeDetection(quarantinedHosts(quarantined, before.nodes, (await snapshot(watched)).nodes, quarantineAt, refusedAt, reattestSeconds));
    Object.assign(recoveries, {
      quarantineRefusedP50Seconds: detection.refusedP50Seconds, quarantineRefusedMaxSeconds: detection.refusedMaxSeconds,
      quarantineOwnRecheckDueP50Seconds: detection.dueP50Seconds, quarantineOwnRecheckDueMaxSeconds: detection.dueMaxSeconds,
      quarantineFoundThroughReplica: detection.throughReplica,
    });
    log(`  the quarantined hosts refused p50 ${detection.refusedP50Seconds} s / max ${detection.refusedMaxSeconds} s after the fault; their own re-checks were due p50 ${detection.dueP50Seconds} s / max ${detection.dueMaxSeconds} s after it; ${detection.throughReplica} of ${detection.hosts} found earlier through a replica's failed evidence${detection.throughReplica ? ` (refused p50 ${detection.earlierP50Seconds} s before their own re-check was due)` : ''}`);
    const lastFaultEnd = Date.now();

    // --- Drain: the traffic ends; everything metered must be committed and paid, exactly. ---
    fleet.stopTraffic();
    let last: string[] = [];
    let nextReport = Date.now() + 30_000;
    let final: Snapshot | undefined;
    // Beyond paid == committed == metered: what was metered is what the replicas served (_metering-books.ts).
    const booksOf = (s: Snapshot) => (s.account ? checkMeteringBooks(fleet.usageLedger(), s.nodes, s.account, quarantined) : undefined);
    const allViolations = (s: Snapshot) => [...violations(s), ...(booksOf(s)?.violations ?? ['no SettlementAccount'])];
    // A replica's last tokens go in its next interval's report, and a report deferred (429) waits one more.
    await until('paid == committed == metered, with every invariant holding', Math.max(600, 3 * usageIntervalSeconds) * 1000, async () => {
      last = allViolations(await snapshot(watched));
      if (last.length && Date.now() > nextReport) { nextReport += 30_000; log(`  settling: ${last.slice(0, 3).join('; ')}${last.length > 3 ? ` (+${last.length - 3})` : ''}`); }
      if (last.length) return false;
      // The caches say it holds; the apiserver must say so too.
      final = await listedSnapshot(rest);
      last = allViolations(final);
      return last.length === 0;
    }).catch((err: Error) => { throw new Error(`${err.message}; still violated: ${last.slice(0, 10).join('; ')}`); });
    const settledSeconds = seconds(lastFaultEnd);
    const totals = (final!.account?.status as { totals?: Record<string, unknown> } | undefined)?.totals;
    const fleetStats = fleet.stats();
    log(`fleet: ${fleetStats.replicasAttested} replicas attested, ${fleetStats.replicaAttesterRestarts} replica attester restarts${fleetStats.lastAttesterError ? ` (last: ${fleetStats.lastAttesterError.slice(0, 200)})` : ''}; last reports of replicas whose Pod went: ${fleetStats.finalReports.accepted} accepted, ${fleetStats.finalReports.notAccepted} not`);
    log(`settled ${settledSeconds} s after the last fault: no duplicate or orphan replica, every pool Ready on attested nodes, metered ${num(totals?.metered)} = committed ${num(totals?.committed)} = paid ${num(totals?.paid)}`);
    const books = booksOf(final!)!;
    const lost = books.lostWithPods.replicas ? `all but ${books.lostWithPods.tokens} of ${books.lostWithPods.replicas} replicas whose Pod went and whose last report was not (the sidecar's 10 s limit)` : 'every one';
    log(`metering against the fleet's books: of the ${books.healthyTokens} tokens served on never-quarantined hosts, ${lost} in an accepted report; each ProviderNode's units within what its replicas' reports carried (exactly what the accepted ones price to on ${books.exactNodes} of ${books.nodes})`);
    // What the attestation service (challenges, evidence, every usage report) asked of the apiserver.
    const serviceRequests = await operatorRequests(serviceMetricsPort);
    const serviceTotal = [...serviceRequests.byVerbAndResource.values()].reduce((a, b) => a + b, 0);
    const servicePerSecond = Math.round((serviceTotal / ((Date.now() - serviceStartedAt) / 1000)) * 10) / 10;
    const top = [...serviceRequests.byVerbAndResource].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    log(`attestation service: ${serviceTotal} requests to the apiserver, ${servicePerSecond}/s over its ${seconds(serviceStartedAt)} s (${top}); ${serviceRequests.conflicts} answered 409; ${serviceRequests.usageDeferred} usage reports deferred at maxUsageReportsInFlight`);
    endClaims();
    await claimLoop;
    await claims.close();
    await fleet.stop();
    rest.close();
    return {
      bench: 'chaos', metric: 'seconds from the last fault to paid == committed == metered with every invariant holding', unit: 's',
      ours: settledSeconds, baseline: COMMIT_PERIOD_SECONDS, ratio: Math.round((settledSeconds / COMMIT_PERIOD_SECONDS) * 100) / 100,
      params: { nodes, pools, replicas: replicas + 1, replicasPerPool, gpusPerReplica, quarantined: quarantined.length, stallSeconds, reattestIntervalSeconds: reattestSeconds, ...(challengeTtlSeconds !== undefined ? { challengeTtlSeconds } : {}), ...(replicaRenewSeconds !== undefined ? { replicaRenewSeconds } : {}), usageIntervalSeconds, commitPeriodSeconds: COMMIT_PERIOD_SECONDS, ...recoveries, unitsMetered: num(totals?.metered), tokensServedOnHealthyHosts: Number(books.healthyTokens), nodesMeteredExactly: books.exactNodes, replicasGoneWithTokensUnmetered: books.lostWithPods.replicas, serviceRequests: serviceTotal, serviceRequestsPerSecond: servicePerSecond, serviceConflicts: serviceRequests.conflicts, usageReportsDeferred: serviceRequests.usageDeferred, baselineIs: 'one commit period' },
    };
  } finally {
    clearInterval(requestReporter);
    benchLoopDelay.disable();
    tearingDown = true;
    await stopWatching();
    for (const c of children) c.kill('SIGKILL');
    await plane.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
