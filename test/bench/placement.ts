// `npm run bench -- placement [--quick] [--nodes N] [--runs N] [--qps N] [--burst N] [--workers N] [--max-in-flight N] [--spread] [--ours-only]`:
// how long until every replica is bound, the InferencePool controller (ours) against kube-scheduler
// (baseline), on one private control plane in one run, with the same fleet, the same replicas and the
// same client request budget.
//
// Fleet: 2,000 kwok nodes × 8 GPUs (--quick: 200), each with an Attested ProviderNode and the labels the
//   ProviderNode controller keeps on attested Nodes. Workload: 1,000 pools × 8 replicas (--quick: 100),
//   (--nodes N: N kwok nodes and N/2 pools; 5,000 → 20,000 replicas),
//   three in four pools of 1-GPU replicas, one in four of 2-GPU replicas — 62.5% of the fleet's GPUs,
//   so a perfect packing (every used node full) exists and both schedulers can bind everything.
// Ours: the controller runs in a child process (its peak RSS is read from /proc/<pid>/status VmHWM) as
//   JavaScript, as the operator image runs it — transpiled here file by file, not under the tsx loader,
//   which alone adds ~100 MB RSS; the bench creates the 1,000 InferencePools and the controller places
//   their replicas and creates each Pod bound to its node (one write per replica). It runs with the
//   operator image's node flags (dev/images/entrypoint.ts); OPERATOR_NODE_ARGS (e.g. "--cpu-prof
//   --cpu-prof-dir=/tmp/prof") adds more after them, to profile it or to override one
//   ("--heap-growing-percent=0" is V8's default); PROFILE_DIR profiles kube-apiserver (below).
// Baseline: the same Pods (same containers and GPU limits, schedulerName default-scheduler, a required
//   nodeAffinity on the attested/TEE/GPU-model labels), created by the bench, bound by kube-scheduler.
// Floor (a reference, not a competitor): the bench submits the same 1,000 InferencePools (watched by no
//   controller) and itself creates their Pods already bound (spec.nodeName from a plain first fit over the
//   nodes), 64 writes at a time: the least time any placement that writes one Pod per replica can take
//   on this machine. ours/floor is the controller's
//   own cost; floor/baseline says how far below kube-scheduler's time this machine lets anyone go.
// Time, for all: from the first request that submits the workload (the first pool, or the first Pod)
//   to the moment the bench's watch sees the last replica with spec.nodeName set.
//   For ours the bench then reads the pools' status: how many showed every replica placed
//   (status.replicas.placed) at its first look after the last bind, and how long until all did, so a
//   time bought by writing status later would show.
// --ours-only runs our phase alone (no kube-scheduler, no floor; the JSON's baseline and ratio are null):
//   the operator's time and memory at a size where the whole comparison takes most of an hour.
// All phases use the same nodes: after each, its Pods are deleted (grace 0) and the bench waits until
//   none is left before the next starts. Each phase starts on a settled fleet: once no Node has been
//   written for 3 s (after the fleet appears, kube-controller-manager re-annotates every Node at its own
//   20 QPS — minutes at full size — and that wave used to land in the first phase only), and after one
//   untimed Pod on every node (kwok's first Pods on a node cost it more; warmUpFleet). Stranded GPUs
//   are measured for both by measureStranding over the nodes as the final Pods occupy them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import type { BenchOptions, BenchResult } from './run.js';
import { numberFlag as flag, operatorNodeFlags } from './_flags.js';
import { cpuSecondsOf } from './_process-cpu.js';
import { apiserverRequests, profileApiserver } from './_apiserver.js';
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { installCrds } from '../../dev/install-crds.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { InferencePools } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, LABEL_GPU_MODEL, LABEL_TEE } from '../../operator/src/marks.js';
import { measureStranding, type NodeCapacity, type StrandingReport } from '../../operator/src/placement/index.js';
import { adminClient, createGpuFleet, GPU, inBatches, poolObject } from '../inferencepool/kube-fixtures.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { DEFAULT_MAX_IN_FLIGHT } from '../../operator/src/controllers/inferencepool/request-budget.js';

const here = dirname(fileURLToPath(import.meta.url));
const GPUS_PER_NODE = 8;
const REPLICAS_PER_POOL = 8;
const MODEL = 'H100';
// The pools' model comes from an https archive (an emptyDir in the replica, never fetched under kwok),
// not from a PersistentVolumeClaim: kube-scheduler will not schedule a Pod whose claim does not exist,
// so with the fixtures' pvc:// source the baseline bound nothing, and a claim would add volume binding
// to kube-scheduler's work that the comparison is not about. All three phases use the same source.
const BENCH_MODEL = { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'https://models.invalid/llama-3.1-8b-instruct.tar', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' };
const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** GPUs per replica of pool i: one pool in four asks for 2. */
const gpusOfPool = (i: number) => (i % 4 === 3 ? 2 : 1);

interface PhaseResult {
  seconds: number;
  bound: number;
  stranding: StrandingReport;
  /** performance.now() when the last replica was seen bound. */
  lastBoundAt: number;
}

export default async function placement({ quick, args }: BenchOptions): Promise<BenchResult> {
  // --nodes N scales the whole workload with the fleet: N/2 pools of 8 replicas (5,000 nodes → 20,000 replicas).
  const nodes = flag(args, '--nodes', quick ? 200 : 2000);
  const pools = Math.max(1, Math.round(nodes / 2));
  // --runs N repeats the three phases N times on the same fleet and reports each phase's median run.
  const runs = flag(args, '--runs', 1);
  const replicas = pools * REPLICAS_PER_POOL;
  // The operator's client budget, given to kube-scheduler too (its clientConnection qps/burst).
  const qps = flag(args, '--qps', 500);
  // Spreading across providers is a preference kube-scheduler has no equivalent of here, and it trades
  // tight packing for availability on purpose; the comparison runs without it unless asked (--spread).
  const spread = args.includes('--spread');
  // Concurrent pool reconciles in the operator: each waits on the apiserver most of the time.
  const workers = flag(args, '--workers', 32);
  const burst = flag(args, '--burst', 1000);
  // Replica requests the operator keeps in flight (its default is 32); kube-scheduler binds without a cap.
  const maxInFlight = args.includes('--max-in-flight') ? flag(args, '--max-in-flight', DEFAULT_MAX_IN_FLIGHT) : undefined;
  const oursOnly = args.includes('--ours-only');
  const deadlineMs = Math.max(120, Math.ceil(nodes * 0.45)) * 1000;
  const apiserverArgs = ['--max-requests-inflight=0', '--max-mutating-requests-inflight=0', '--enable-priority-and-fairness=false'];
  const totalGpus = Array.from({ length: pools }, (_, i) => gpusOfPool(i) * REPLICAS_PER_POOL).reduce((a, b) => a + b, 0);

  log(`placement bench: ${nodes} kwok nodes × ${GPUS_PER_NODE} GPUs, ${pools} pools × ${REPLICAS_PER_POOL} replicas = ${replicas} replicas, ${totalGpus} of ${nodes * GPUS_PER_NODE} GPUs (a perfect packing leaves 0 stranded)`);
  log(`operator workers (concurrent pool reconciles): ${workers}; replica requests in flight: ${maxInFlight ?? `default (${DEFAULT_MAX_IN_FLIGHT})`}`);
  log(`pools spread across providers: ${spread} (--spread to turn on)`);
  log(`client budget for both the operator and kube-scheduler: qps ${qps}, burst ${burst}`);
  log(`kube-apiserver flags changed for the bench: ${apiserverArgs.join(' ')} (inflight limits and priority & fairness off, so neither side is throttled by the server)`);
  log('time = from the first request that submits the workload (first InferencePool / first Pod) to the moment the bench watch sees the last replica bound');

  const plane = await startControlPlane({ schedulerClient: { qps, burst }, apiserverArgs });
  try {
    const kc = plane.kubeConfig();
    await installCrds(kc);
    const client = adminClient(kc, { qps: 5000, burst: 5000 });
    const started = Date.now();
    const fleet = await createGpuFleet(kc, { prefix: 'bench', count: nodes, gpuModel: MODEL, providers: Math.max(1, nodes / 20), concurrency: 64 });
    await waitForReadyNodes(client.rest, nodes);
    log(`fleet ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await warmUpFleet(kc, client, fleet.names);
    await waitForSettledNodes(kc, 'before the fleet is used');
    // Each run has namespaces of its own, so a run's pools (left behind, watched by no one) never meet the next run's.
    const ns = (phase: 'ours' | 'baseline' | 'floor', run: number) => (runs === 1 ? `bench-${phase}` : `bench-${phase}-${run}`);
    for (let run = 1; run <= runs; run++) {
      for (const name of [ns('ours', run), ns('baseline', run), ns('floor', run)]) await createNamespace(client, name);
    }
    const oursRuns: PhaseResult[] = [];
    const baselineRuns: PhaseResult[] = [];
    const floorRuns: PhaseResult[] = [];
    let rssMb = 0;
    let liveHeapMb = 0;
    for (let run = 1; run <= runs; run++) {
      if (runs > 1) log(`---- run ${run} of ${runs}`);
      if (run > 1) await waitForSettledNodes(kc, `before run ${run}`);

      // ---- ours ---------------------------------------------------------------------------------------
      // The operator runs as JavaScript, as in its image (tsc output, plain node): the tsx loader that the
      // tests use would add its own ~100 MB to the RSS measured here.
      const entry = await transpileForNode(join(here, '../inferencepool/fixtures/run-controller.ts'), join(here, '../../.tmp/bench-operator'));
      log(`operator: the InferencePool controller alone, as JavaScript (${relative(join(here, '../..'), entry)}), in its own process`);
      // --expose-gc only lets the bench ask for a full GC before reading the live heap (liveHeap below).
      const operator = spawn(process.execPath, ['--expose-gc', ...operatorNodeFlags(), entry], {
        // kwok sets every readiness gate True itself; the controller would turn them back False after the
        // grace (AttestationMissing). That correction is not placement: keep it out of the timed window.
        env: {
          ...process.env, KUBECONFIG: plane.kubeconfigPath, QPS: String(qps), BURST: String(burst), WORKERS: String(workers), GATE_GRACE_MS: String(deadlineMs),
          ...(maxInFlight !== undefined ? { MAX_IN_FLIGHT: String(maxInFlight) } : {}),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolveReady, rejectReady) => {
        operator.stdout?.on('data', (d: Buffer) => { if (d.toString().includes('READY')) resolveReady(); });
        operator.on('exit', (code) => rejectReady(new Error(`operator exited with ${code} before it was ready`)));
      });
      const ours = await timedPhase(kc, ns('ours', run), replicas, deadlineMs, async () => {
        await inBatches(Array.from({ length: pools }, (_, i) => i), 64, async (i) => {
          await client.create({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'inferencepools', kind: 'InferencePool', namespaced: true },
            poolObject(`pool-${i}`, ns('ours', run), REPLICAS_PER_POOL, MODEL, { model: BENCH_MODEL, gpusPerReplica: gpusOfPool(i), placement: { spreadAcrossProviders: spread } }));
        });
      }, fleet.names, { ...plane.pids(), operator: operator.pid, bench: process.pid });
      // The time counts only if the pools' status says so too: each pool's status.replicas.placed equal
      // to the replicas it wants, when the bench first looks after the last bind, and how long until all do.
      const statuses = await poolStatusesCaughtUp(client, ns('ours', run), pools, ours.lastBoundAt, deadlineMs);
      log(`  pool status: ${statuses.atFirstLook}/${pools} pools showed every replica placed when the bench looked ${statuses.firstLookSeconds.toFixed(1)} s after the last bind; all ${pools} ${statuses.allSeconds.toFixed(1)} s after it`);
      rssMb = Math.max(rssMb, peakRssMb(operator.pid as number));
      const heap = await liveHeap(operator);
      if (heap) {
        liveHeapMb = Math.max(liveHeapMb, heap.heapUsed ?? 0);
        log(`  operator after the last bind, after a full GC: heapUsed ${heap.heapUsed} MB of heapTotal ${heap.heapTotal} MB, external ${heap.external} MB, rss ${heap.rss} MB (peak RSS ${peakRssMb(operator.pid as number).toFixed(0)} MB)`);
      }
      operator.kill('SIGTERM');
      await new Promise((r) => operator.once('exit', r));
      log(`ours: ${ours.bound}/${replicas} bound in ${ours.seconds.toFixed(2)} s; stranded ${ours.stranding.strandedGpus} GPUs on ${ours.stranding.partlyUsedNodes} partly used nodes, ${ours.stranding.idleNodes} idle nodes; operator peak RSS ${rssMb.toFixed(0)} MB`);

      if (oursOnly) {
        oursRuns.push(ours);
        // The next run needs the nodes empty; after the last, the control plane goes with its Pods
        // (deleting 20,000 of them one by one took minutes at 5,000 nodes).
        if (run < runs) await deleteAllPods(kc, client.rest, ns('ours', run));
        continue;
      }
      await deleteAllPods(kc, client.rest, ns('ours', run));

      // ---- baseline -----------------------------------------------------------------------------------
      await waitForSettledNodes(kc, 'before the baseline');
      const baselinePods: KubeObject[] = [];
      for (let i = 0; i < pools; i++) {
        const pool = unsubmittedPool(`pool-${i}`, ns('baseline', run), REPLICAS_PER_POOL, gpusOfPool(i));
        for (let r = 0; r < REPLICAS_PER_POOL; r++) baselinePods.push(baselinePod(pool, r));
      }
      const baseline = await timedPhase(kc, ns('baseline', run), replicas, deadlineMs, async () => {
        await inBatches(baselinePods, 64, async (pod) => { await client.create(Pods, pod); });
      }, fleet.names, { ...plane.pids(), bench: process.pid });
      log(`kube-scheduler: ${baseline.bound}/${replicas} bound in ${baseline.seconds.toFixed(2)} s; stranded ${baseline.stranding.strandedGpus} GPUs on ${baseline.stranding.partlyUsedNodes} partly used nodes, ${baseline.stranding.idleNodes} idle nodes`);

      // ---- floor --------------------------------------------------------------------------------------
      await deleteAllPods(kc, client.rest, ns('baseline', run));
      await waitForSettledNodes(kc, 'before the floor');
      // The same submission as ours (each pool, now watched by no one), each followed by its replicas' Pods.
      const floorWrites = boundByFirstFit(pools, fleet.names, ns('floor', run)).flatMap(({ pool, pods: podsOfPool }) => [
        () => client.create(InferencePools, pool), ...podsOfPool.map((pod) => () => client.create(Pods, pod)),
      ]);
      const floor = await timedPhase(kc, ns('floor', run), replicas, deadlineMs, async () => {
        await inBatches(floorWrites, 64, async (write) => { await write(); });
      }, fleet.names, { ...plane.pids(), bench: process.pid });
      log(`floor (the bench submits the pools and creates their Pods already bound, no controller): ${floor.bound}/${replicas} bound in ${floor.seconds.toFixed(2)} s; floor/kube-scheduler ${(floor.seconds / baseline.seconds).toFixed(2)}, ours/floor ${(ours.seconds / floor.seconds).toFixed(2)}`);
      oursRuns.push(ours);
      baselineRuns.push(baseline);
      floorRuns.push(floor);
      if (run < runs) await deleteAllPods(kc, client.rest, ns('floor', run));
    }
    client.rest.close();
    if (oursOnly) {
      const ours = medianRun(oursRuns);
      return {
        bench: 'placement', metric: 'time to bind all replicas (ours only)', unit: 's',
        ours: round(ours.seconds), baseline: null, ratio: null,
        params: {
          runs, oursRunsSeconds: oursRuns.map((r) => round(r.seconds)), nodes, gpusPerNode: GPUS_PER_NODE, pools, replicas, qps, burst, workers,
          oursBound: ours.bound, oursStrandedGpus: ours.stranding.strandedGpus, operatorPeakRssMb: Math.round(rssMb), operatorLiveHeapMb: liveHeapMb,
        },
      };
    }
    // The run whose time is the median stands for each phase (its stranding and bound count with it).
    const ours = medianRun(oursRuns);
    const baseline = medianRun(baselineRuns);
    const floor = medianRun(floorRuns);
    if (runs > 1) {
      log(`median of ${runs} runs: ours ${ours.seconds.toFixed(2)} s (${oursRuns.map((r) => r.seconds.toFixed(1)).join(', ')}), kube-scheduler ${baseline.seconds.toFixed(2)} s (${baselineRuns.map((r) => r.seconds.toFixed(1)).join(', ')}), floor ${floor.seconds.toFixed(2)} s (${floorRuns.map((r) => r.seconds.toFixed(1)).join(', ')})`);
      log(`ours/floor ${(ours.seconds / floor.seconds).toFixed(2)}, ours/kube-scheduler ${(ours.seconds / baseline.seconds).toFixed(2)}`);
    }

    const finished = (p: PhaseResult) => p.bound === replicas;
    if (!finished(ours) || !finished(baseline) || !finished(floor)) log(`not every replica was bound within ${deadlineMs / 1000} s: the time shown is the deadline`);
    return {
      bench: 'placement',
      metric: 'time to bind all replicas',
      unit: 's',
      ours: round(ours.seconds),
      baseline: round(baseline.seconds),
      ratio: round(ours.seconds / baseline.seconds),
      params: {
        runs, oursRunsSeconds: oursRuns.map((r) => round(r.seconds)), baselineRunsSeconds: baselineRuns.map((r) => round(r.seconds)), floorRunsSeconds: floorRuns.map((r) => round(r.seconds)),
        nodes, gpusPerNode: GPUS_PER_NODE, pools, replicas, requestedGpus: totalGpus, qps, burst, apiserverArgs, spreadAcrossProviders: spread, workers,
        ...(maxInFlight !== undefined ? { maxInFlight } : {}),
        oursBound: ours.bound, baselineBound: baseline.bound,
        floorSeconds: round(floor.seconds), floorBound: floor.bound, floorToBaseline: round(floor.seconds / baseline.seconds), oursToFloor: round(ours.seconds / floor.seconds),
        oursStrandedGpus: ours.stranding.strandedGpus, baselineStrandedGpus: baseline.stranding.strandedGpus,
        oursPartlyUsedNodes: ours.stranding.partlyUsedNodes, baselinePartlyUsedNodes: baseline.stranding.partlyUsedNodes,
        operatorPeakRssMb: Math.round(rssMb),
        operatorLiveHeapMb: liveHeapMb,
        time: 'first workload request → last replica seen bound by a watch',
      },
    };
  } finally {
    await plane.stop();
  }
}

/**
 * Transpiles `entry` and every TypeScript module it reaches through relative imports into `outDir`,
 * keeping the repository layout (so node_modules resolve the same way), and returns the entry's .js.
 * One file at a time is exactly what tsc emits here: the project compiles with isolatedModules and
 * verbatimModuleSyntax, so no file's output depends on another's types.
 */
async function transpileForNode(entry: string, outDir: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const root = join(here, '../..');
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const out = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true, sourceMap: false },
    }).outputText;
    const target = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, out);
    // Type-only imports are gone from the output, so only modules the program loads are followed.
    for (const m of out.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      pending.push(resolve(dirname(file), `${m[1]}.ts`));
    }
  }
  return join(outDir, relative(root, entry)).replace(/\.ts$/, '.js');
}

/**
 * Waits until nothing has written to Nodes for 3 s (at most 5 min). After a fleet appears, the
 * controller-manager still writes every Node for a while (its TTL controller re-annotates all of them
 * once the cluster passes 100 nodes, at its own 20 QPS), and kwok's heartbeats come back every 10–20
 * minutes: a timed phase
 * that overlaps such a wave pays for hundreds of Node patches (and the watch events they cause) that
 * have nothing to do with placement. Both phases start on a settled fleet.
 */
async function waitForSettledNodes(kc: KubeConfig, when: string): Promise<void> {
  const nodeWrites = (m: Map<string, number>) => (m.get('PATCH nodes') ?? 0) + (m.get('PUT nodes') ?? 0) + (m.get('PATCH nodes/status') ?? 0) + (m.get('PUT nodes/status') ?? 0);
  const started = Date.now();
  const first = nodeWrites(await apiserverRequests(kc));
  let last = first;
  let quietSince = Date.now();
  while (Date.now() - quietSince < 3000 && Date.now() - started < 300_000) {
    await sleep(500);
    const now = nodeWrites(await apiserverRequests(kc));
    if (now !== last) quietSince = Date.now();
    last = now;
  }
  log(`nodes settled ${when}: waited ${((Date.now() - started) / 1000).toFixed(1)} s, ${last - first} Node writes meanwhile`);
}

/** A namespace for the bench's Pods, once its default ServiceAccount (which the Pods name) exists. */
async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  await waitFor(`ServiceAccount default in ${name}`, async () => {
    try { await client.rest.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`); return true; } catch { return false; }
  }, 60_000);
}

/**
 * A pool of the bench's shape that is never submitted, only built from: the baseline's and the floor's Pods
 * and the warm-up's are made from it as the operator would make them, owned by no one.
 */
function unsubmittedPool(name: string, namespace: string, replicas: number, gpusPerReplica: number): InferencePool {
  const pool = poolObject(name, namespace, replicas, MODEL, { model: BENCH_MODEL, gpusPerReplica }) as unknown as InferencePool;
  pool.metadata.uid = 'unused';
  return pool;
}

/**
 * Runs one replica Pod on every node and deletes them, before any timed phase, so that no phase pays for
 * the fleet's first Pods. The first phase of an invocation (always ours) saw 452–618 Pod status patches
 * (kwok's) where the same phase of later runs saw 346–400, and 29–57 Pod watches opened that no later
 * phase saw. With this warm-up the first phase's patches were 309–426; the watches still came (25–40,
 * from a client not ours: the operator's log shows no watch of its own restarting), so it is not all of it.
 */
async function warmUpFleet(kc: KubeConfig, client: KubeClient, nodeNames: string[]): Promise<void> {
  const namespace = 'bench-warmup';
  const started = Date.now();
  await createNamespace(client, namespace);
  const pool = unsubmittedPool('warm-up', namespace, nodeNames.length, 1);
  await inBatches(nodeNames.map((node, i) => unownedReplicaPod(pool, i, node)), 64, async (pod) => { await client.create(Pods, pod); });
  await waitFor(`the warm-up Pods Running on ${nodeNames.length} nodes`, async () => {
    const list = await client.rest.request<{ items: Array<{ status?: { phase?: string } }> }>('GET', resourcePath(Pods, namespace));
    return list.items.filter((p) => p.status?.phase === 'Running').length >= nodeNames.length;
  }, 600_000);
  const running = Date.now();
  await deleteAllPods(kc, client.rest, namespace);
  log(`warm-up: one replica Pod on each of ${nodeNames.length} nodes, Running in ${((running - started) / 1000).toFixed(1)} s, gone ${((Date.now() - running) / 1000).toFixed(1)} s later`);
}

/**
 * How many of the `pools` InferencePools of `namespace` report every replica placed (status.replicas.placed
 * equal to status.replicas.desired, at REPLICAS_PER_POOL) at the first look, and seconds after
 * `lastBoundAt` of that look and of the one where all do.
 */
async function poolStatusesCaughtUp(client: KubeClient, namespace: string, pools: number, lastBoundAt: number, deadlineMs: number): Promise<{ atFirstLook: number; firstLookSeconds: number; allSeconds: number }> {
  const caughtUp = async () => (await client.list<InferencePool & KubeObject>(InferencePools, { namespace })).items.filter((p) =>
    p.status?.replicas?.desired === REPLICAS_PER_POOL && p.status.replicas.placed === REPLICAS_PER_POOL).length;
  const firstLookSeconds = (performance.now() - lastBoundAt) / 1000;
  const atFirstLook = await caughtUp();
  let count = atFirstLook;
  const deadline = performance.now() + deadlineMs;
  while (count < pools) {
    if (performance.now() > deadline) throw new Error(`only ${count} of ${pools} pools' status showed every replica placed within ${deadlineMs / 1000} s of the last bind`);
    await sleep(200);
    count = await caughtUp();
  }
  return { atFirstLook, firstLookSeconds, allSeconds: (performance.now() - lastBoundAt) / 1000 };
}

/** Submits the workload and waits until the watch has seen `expected` Pods bound in `namespace`. */
async function timedPhase(kc: KubeConfig, namespace: string, expected: number, deadlineMs: number, submit: () => Promise<void>, nodeNames: string[], pids: Record<string, number | undefined>): Promise<PhaseResult> {
  const rest = new RestClient(kc, { qps: 5000, burst: 5000 });
  const informer = new Informer<KubeObject>({ client: rest, resource: Pods, namespace });
  const boundAt = new Map<string, number>();
  const seen = (pod: KubeObject) => {
    const name = pod.metadata?.name as string;
    if ((pod.spec as { nodeName?: string }).nodeName && !boundAt.has(name)) boundAt.set(name, performance.now());
  };
  informer.onAdd(seen).onUpdate((_o, p) => seen(p));
  informer.start();
  await informer.waitForSync(60_000);
  const cpuBefore = cpuSeconds(pids);
  const requestsBefore = await apiserverRequests(kc);
  const profile = process.env.PROFILE_DIR ? profileApiserver(kc, namespace, Number(process.env.PROFILE_SECONDS ?? 5)) : undefined;
  const t0 = performance.now();
  await submit();
  const deadline = t0 + deadlineMs;
  let nextReport = t0 + 2000;
  const progress: string[] = [];
  while (boundAt.size < expected && performance.now() < deadline) {
    await sleep(100);
    if (performance.now() >= nextReport) {
      progress.push(`${((performance.now() - t0) / 1000).toFixed(0)}s:${boundAt.size}`);
      nextReport += 2000;
    }
  }
  const cpuAfter = cpuSeconds(pids);
  const requestsAfter = await apiserverRequests(kc);
  const deltas = [...requestsAfter].map(([k, v]) => [k, v - (requestsBefore.get(k) ?? 0)] as const).filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]);
  log(`  ${namespace}: apiserver requests from submission to the last bind (top): ${deltas.slice(0, 12).map(([k, d]) => `${k} ${d}`).join(', ')}`);
  log(`  ${namespace}: bound over time ${progress.join(' ')}`);
  log(`  ${namespace}: CPU seconds from submission to the last bind: ${Object.keys(cpuAfter).map((k) => `${k} ${((cpuAfter[k] ?? 0) - (cpuBefore[k] ?? 0)).toFixed(1)}`).join(', ')}`);
  await profile;
  const last = boundAt.size === expected ? Math.max(...boundAt.values()) : performance.now();
  // Let the informer settle so the final occupancy is complete, then measure stranding from it.
  const pods = informer.list();
  await informer.stop();
  rest.close();
  return { seconds: (last - t0) / 1000, bound: boundAt.size, stranding: strandingOf(pods, nodeNames), lastBoundAt: last };
}

function strandingOf(pods: KubeObject[], nodeNames: string[]): StrandingReport {
  const used = new Map<string, number>();
  for (const pod of pods) {
    const node = (pod.spec as { nodeName?: string }).nodeName;
    if (!node) continue;
    const limits = (pod.spec as { containers: Array<{ resources?: { limits?: Record<string, string> } }> }).containers;
    const gpus = limits.reduce((s, c) => s + Number(c.resources?.limits?.[GPU] ?? 0), 0);
    used.set(node, (used.get(node) ?? 0) + gpus);
  }
  const capacity: NodeCapacity[] = nodeNames.map((name) => ({
    name, provider: 'p', tee: 'sev-snp', gpuModel: MODEL, gpuTotal: GPUS_PER_NODE,
    gpuFree: Math.max(0, GPUS_PER_NODE - (used.get(name) ?? 0)), priceCoefficient: 1000,
    attested: true, quarantined: false, cordoned: false,
  }));
  return measureStranding(capacity);
}

/**
 * Deletes every Pod of `namespace` and waits until none is left. A collection delete of 8,000 Pods can
 * outlast the apiserver's own request timeout (60 s) under load and end in a reset connection; it is
 * re-sent until no Pod is left (each pass deletes what it reaches), and "left" is one Pod listed, not all.
 */
async function deleteAllPods(kc: KubeConfig, rest: RestClient, namespace: string): Promise<void> {
  const patient = new RestClient(kc, { qps: 5000, burst: 5000, timeoutMs: 600_000 });
  // The pools go first: an operator started for a later run would otherwise place their replicas again.
  await patient.request('DELETE', resourcePath(InferencePools, namespace)).catch(() => undefined);
  let nextDelete = 0;
  await waitFor(`the Pods of ${namespace} gone`, async () => {
    const left = await rest.request<{ items: unknown[] }>('GET', resourcePath(Pods, namespace), { query: { limit: 1 } }).catch(() => undefined);
    if (left?.items.length === 0) return true;
    if (Date.now() >= nextDelete) {
      nextDelete = Date.now() + 30_000;
      void patient.request('DELETE', resourcePath(Pods, namespace), { query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
    }
    return false;
  }, 900_000);
  patient.close();
}

/**
 * The floor's writes: each pool, and its replicas' Pods as the operator builds them, bound up front by
 * first fit over the nodes in order (a replica that does not fit the current node's free GPUs moves to the next node).
 * No controller decides anything; only the writes are left.
 */
function boundByFirstFit(pools: number, nodeNames: string[], namespace: string): Array<{ pool: KubeObject; pods: KubeObject[] }> {
  const out: Array<{ pool: KubeObject; pods: KubeObject[] }> = [];
  let node = 0;
  let free = GPUS_PER_NODE;
  for (let i = 0; i < pools; i++) {
    const gpus = gpusOfPool(i);
    const pool = unsubmittedPool(`pool-${i}`, namespace, REPLICAS_PER_POOL, gpus);
    const pods: KubeObject[] = [];
    for (let r = 0; r < REPLICAS_PER_POOL; r++) {
      if (free < gpus) { node++; free = GPUS_PER_NODE; }
      if (node >= nodeNames.length) throw new Error(`the floor's first fit ran out of nodes at pool ${i}`);
      free -= gpus;
      pods.push(unownedReplicaPod(pool, r, nodeNames[node]));
    }
    out.push({ pool: poolObject(`pool-${i}`, namespace, REPLICAS_PER_POOL, MODEL, { model: BENCH_MODEL, gpusPerReplica: gpus }), pods });
  }
  return out;
}

/**
 * The replica Pod the operator would build for `pool` (bound to `node` when given), as the bench's own
 * Pods (the baseline's and the floor's) use it: no ownerReference, since no controller owns them.
 */
function unownedReplicaPod(pool: InferencePool, index: number, node?: string): KubeObject {
  const pod = buildReplicaPod({ pool, index, tee: 'sev-snp', config: { ...DEFAULT_CONFIG, runtimeClassByTee: {}, gpuResourceName: GPU }, ...(node ? { node } : {}) });
  delete (pod.metadata as NonNullable<KubeObject['metadata']>).ownerReferences;
  return pod;
}

/** The replica Pod the operator would create, handed to kube-scheduler with equivalent node affinity. */
function baselinePod(pool: InferencePool, index: number): KubeObject {
  const pod = unownedReplicaPod(pool, index);
  const spec = pod.spec as Record<string, unknown>;
  spec.schedulerName = 'default-scheduler';
  spec.affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{
          matchExpressions: [
            { key: LABEL_ATTESTED, operator: 'In', values: ['true'] },
            { key: LABEL_TEE, operator: 'In', values: pool.spec.tee?.types ?? ['sev-snp', 'tdx'] },
            { key: LABEL_GPU_MODEL, operator: 'In', values: pool.spec.gpuModels ?? [MODEL] },
          ],
        }],
      },
    },
  };
  return pod;
}

async function waitForReadyNodes(rest: RestClient, count: number): Promise<void> {
  await waitFor(`${count} Ready kwok nodes`, async () => {
    const list = await rest.request<{ items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> }>('GET', resourcePath(Nodes));
    return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length >= count;
  }, 300_000);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(250);
  }
}

/**
 * The controller's memory after a full GC (run-controller.ts answers SIGUSR2 with a `HEAP {json}` line):
 * what its caches really hold, against a peak RSS that also counts garbage V8 had not collected yet.
 */
async function liveHeap(operator: ChildProcess): Promise<Record<string, number> | undefined> {
  return new Promise((resolveHeap) => {
    const timer = setTimeout(() => { operator.stdout?.off('data', onData); resolveHeap(undefined); }, 10_000);
    const onData = (d: Buffer) => {
      const m = /HEAP (\{.*\})/.exec(d.toString());
      if (!m) return;
      clearTimeout(timer);
      operator.stdout?.off('data', onData);
      resolveHeap(JSON.parse(m[1]!) as Record<string, number>);
    };
    operator.stdout?.on('data', onData);
    operator.kill('SIGUSR2');
  });
}

/** Peak resident set of a process (VmHWM), MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** User + system CPU seconds of each process (from /proc/<pid>/stat), to see where a phase's time went. */
function cpuSeconds(pids: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    try {
      out[name] = cpuSecondsOf(pid);
    } catch {
      // The process has exited; it used nothing more in this window.
    }
  }
  return out;
}

/** The run with the median time (the lower middle of an even count). */
function medianRun(runs: PhaseResult[]): PhaseResult {
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
