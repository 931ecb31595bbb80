// `chrysalis demo`: a whole Chrysalis on this machine. Starts a local control plane, installs the CRDs,
// runs the operator and its attestation service in this process, brings up a simulated GPU fleet (kwok
// nodes with simulated-TEE attesters), a SettlementAccount on the embedded sandbox chain and sample
// InferencePools, and shows progress until every pool is Ready and the first settlement confirms.
// Every number shown comes from the cluster's objects (what `kubectl get` shows), never from the demo.
// The screen is for a person: the operator's JSON logs go to a file the demo names first (--verbose
// shows them on the screen instead).
// Exit: 0 converged (also when stopped with Ctrl-C after converging), 1 not converged, 2 bad flags.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InClusterStack } from '../../../dev/in-cluster.js';
import type { InferenceTraffic } from '../../../dev/inference-traffic.js';
import type { InferencePool } from '../../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../../operator/src/api/settlementaccount.js';
import { RestClient } from '../../../operator/src/kube/rest.js';
import { sendLogsToFile } from '../../../operator/src/util/log.js';
import { createRetryingTransient as create } from '../create-retrying.js';
import { demoProgressLine } from '../views/progress.js';

const NS = 'chrysalis-demo';
const GROUP = '/apis/chrysalis.dev/v1alpha1';
/** --in-cluster: the pool whose replica serves a real model on the real node, and the price it pays. */
const SERVED_POOL = 'demo-served';
const SERVED_PRICE_CAP = 1000;
/** --in-cluster: the kwok fleet's price, above the served pool's cap (the real node asks 1000). */
const FLEET_PRICE_COEFFICIENT = 1100;
const SERVED_MODEL = { name: 'chrysalis/tiny-llama', revision: '3333333333333333333333333333333333333333', file: 'model.gguf' };

export interface DemoSummary {
  converged: boolean;
  nodesAttested: number;
  replicasReady: number;
  unitsMetered: number;
  unitsCommitted: number;
  unitsPaid: number;
  settlementTransactions: number;
  elapsedSeconds: number;
  /** With --in-cluster: the operator ran as Pods the chart installed (their names at the end). */
  operator?: 'in-cluster';
  operatorPods?: string[];
  /**
   * With --in-cluster: chat completions the served pool's replica answered on the real node (each over
   * a connection the client verified first), and the prompt + completion tokens they reported to the
   * client. The fleet sends no simulated traffic then, so unitsMetered counts these tokens.
   */
  inferenceRequests?: number;
  tokensServed?: number;
}

/** What the demo tracks: the summary, plus whether the stack is serving (before the final settlement). */
interface Observed extends DemoSummary { serving: boolean }

function publicSummary({ serving: _, ...summary }: Observed): DemoSummary {
  return summary;
}

/**
 * Whether the run converged, as the summary and the exit code report it. With --until-ready: every pool
 * Ready and paid == committed == metered when the demo ended. Without it the demo runs until the user
 * stops it, so a stop after the demo said "converged" (pools Ready, a settlement confirmed and paid) is
 * the expected end, not a failure. A run that failed never converged.
 */
export function demoConverged(run: { untilReady: boolean; failed: boolean; convergedAtEnd: boolean; announcedConverged: boolean }): boolean {
  if (run.failed) return false;
  return run.untilReady ? run.convergedAtEnd : run.announcedConverged;
}

/** Thrown at a setup step's end when Ctrl-C came during the setup: a stop, not a failure. */
class StopRequested extends Error {}

interface DemoFlags { nodes: string; pools: string; inCluster?: boolean; untilReady?: boolean; keep?: boolean; timeout: string; output: string; verbose?: boolean }

function intFlag(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    process.stderr.write(`error: ${flag} must be a whole number from ${min} to ${max}, got "${value}"\n`);
    process.exit(2);
  }
  return n;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run a local control plane, the operator, a simulated attested GPU fleet and a sandbox chain; show placement, attestation, metering and settlement.\n' +
      'The operator\'s logs go to a file named at start (--verbose: on the screen).\n' +
      'Exit 0: converged (without --until-ready, also Ctrl-C once "converged" is shown); 1: not converged (--timeout, or Ctrl-C before); 2: bad flags.')
    .option('--nodes <n>', 'simulated GPU nodes (8 GPUs each)', '10')
    .option('--pools <n>', 'sample InferencePools', '2')
    .option('--in-cluster', 'install the operator, attestation service and attester with the chart, as Pods on a real node (containerd + kubelet, needs root; images built here); the kwok fleet still gives scale')
    .option('--until-ready', 'end the sample traffic once pools are Ready and a settlement confirmed, settle the last units, then stop (or give up at --timeout)')
    .option('--keep', 'with --until-ready: after the summary, leave everything running for kubectl until Ctrl-C')
    .option('--timeout <seconds>', 'give up after this many seconds', '600')
    .option('-o, --output <format>', 'text or json (json: the last line is the summary)', 'text')
    .option('--verbose', 'show the operator\'s JSON logs on the screen instead of in the log file')
    .action(async (flags: DemoFlags) => {
      const nodes = intFlag(flags.nodes, '--nodes', 1, 1000);
      const pools = intFlag(flags.pools, '--pools', 0, 50);
      const timeout = intFlag(flags.timeout, '--timeout', 10, 86400);
      if (flags.output !== 'text' && flags.output !== 'json') {
        process.stderr.write(`error: -o/--output must be text or json, got "${flags.output}"\n`);
        process.exit(2);
      }
      process.exit(await runDemo({ nodes, pools, inCluster: flags.inCluster ?? false, timeoutSeconds: timeout, untilReady: flags.untilReady ?? false, keep: flags.keep ?? false, json: flags.output === 'json', verbose: flags.verbose ?? false }));
    });
}

export async function runDemo(o: { nodes: number; pools: number; inCluster?: boolean; timeoutSeconds: number; untilReady: boolean; keep?: boolean; json: boolean; verbose?: boolean }): Promise<number> {
  const started = Date.now();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Before anything logs: the operator runs in this process and would interleave its JSON lines with the
  // progress below.
  let restoreLogs = async () => {};
  if (!o.verbose) {
    const logFile = join(mkdtempSync(join(tmpdir(), 'chrysalis-demo-')), 'operator.log');
    restoreLogs = sendLogsToFile(logFile);
    say(`operator logs: ${logFile} (--verbose shows them here)`);
  }
  // Heavy parts are imported here so `chrysalis --help` stays fast.
  const { startControlPlane } = await import('../../../dev/cluster/control-plane.js');
  const { installCrds } = await import('../../../dev/install-crds.js');
  const { startLocalOperator } = await import('../../../dev/fleet/operator.js');
  const { createFleet } = await import('../../../dev/fleet/fleet.js');

  const stops: Array<() => Promise<unknown>> = [];
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  // A stop asked for during the setup ends it at the next step (a step in flight is not cut short, so
  // what it started is known and stopped); a second Ctrl-C ends the process at once.
  let settingUp = true;
  let stopRequested = false;
  const interrupted = new Promise<'interrupted'>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        stopRequested = true;
        if (settingUp) say('stop requested: ending after the current setup step…');
        resolve('interrupted');
      });
    }
  });
  const checkpoint = () => {
    if (stopRequested) throw new StopRequested();
  };

  let keptSummaryPrinted = false;
  let failed = false;
  let announcedConverged = false;
  // With --in-cluster the real node is a provider too (one GPU, attested by the chart's attester Pod).
  const totalNodes = o.nodes + (o.inCluster ? 1 : 0);
  // ... and serves one more pool, of one replica, whose model answers real requests.
  const totalPools = o.pools + (o.inCluster ? 1 : 0);
  const totalReplicas = o.pools * 2 + (o.inCluster ? 1 : 0);
  let summary: Observed = { serving: false, converged: false, nodesAttested: 0, replicasReady: 0, unitsMetered: 0, unitsCommitted: 0, unitsPaid: 0, settlementTransactions: 0, elapsedSeconds: 0 };
  try {
    say('starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)…');
    const plane = await startControlPlane({ log: (l) => say(`  control plane: ${l}`) });
    stops.push(() => plane.stop());
    say(`  kubeconfig: ${plane.kubeconfigPath}`);
    checkpoint();
    const kc = plane.kubeConfig();
    let operator: { serviceUrl: string; ca: string; sandboxDir: string };
    let inCluster: InClusterStack | undefined;
    if (o.inCluster) {
      // The chart installs the CRDs, the operator and the attesters (dev/in-cluster.ts).
      const { installInCluster } = await import('../../../dev/in-cluster.js');
      inCluster = await installInCluster(plane, { say: (l) => say(`  ${l}`), settlementNamespaces: [NS], engineCpu: true });
      stops.push(() => inCluster!.stop());
      operator = { serviceUrl: inCluster.serviceUrl, ca: inCluster.ca, sandboxDir: await inCluster.sandboxDir() };
      say(`operator running as Pods (${(await inCluster.operatorPods()).join(', ')}) on real node ${inCluster.node.name}; attestation service relayed at ${operator.serviceUrl}`);
    } else {
      await installCrds(kc);
      checkpoint();
      const local = await startLocalOperator(plane.kubeconfigPath);
      stops.push(() => local.stop());
      operator = local;
      say(`operator running; attestation service at ${operator.serviceUrl}`);
    }
    checkpoint();
    // In-cluster, the fleet's attesters act as the chart's attester ServiceAccount (the only one the
    // service accepts node evidence from) and the fleet's simulated root gets a policy of its own
    // beside the chart's default one.
    // In-cluster the fleet sends no simulated traffic (every metered unit is a token the real node's model
    // served) and asks a higher price than the real node, so the served pool's price cap keeps it there.
    const fleetPlacement = inCluster ? { namespace: 'chrysalis-system', policyName: 'fleet', tokensPerSecond: 0, priceCoefficient: FLEET_PRICE_COEFFICIENT } : {};
    const fleet = await createFleet(kc, { nodes: o.nodes, serviceUrl: operator.serviceUrl, ca: operator.ca, providers: Math.max(1, Math.ceil(o.nodes / 3)), namePrefix: 'gpu', teeMix: ['sev-snp', 'tdx'], usageIntervalMs: 5000, ...fleetPlacement });
    stops.unshift(() => fleet.stop());
    say(`fleet: ${o.nodes} simulated nodes × 8 GPUs, ${fleet.payoutAddresses.length} providers${inCluster ? ', and the real node' : ''}`);
    checkpoint();

    const rest = new RestClient(kc);
    await create(rest, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await create(rest, `${GROUP}/namespaces/${NS}/settlementaccounts`, {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'sandbox' },
      spec: { network: 'sandbox', pricePerUnitNanoton: '1000', commissionBasisPoints: 250, feeAddress: `0:${'f'.repeat(64)}`, commitPeriodSeconds: 15, pushThresholdUnits: '1000' },
    });
    // Pools are applied once the fleet has attested (or after a minute): placement never moves a
    // running replica, so pools applied into a fleet of one attested node would all land on it.
    const attestedBy = Date.now() + 60_000;
    while (Date.now() < attestedBy && (await observe(rest, started, totalPools)).nodesAttested < totalNodes) {
      checkpoint();
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (let i = 0; i < o.pools; i++) {
      checkpoint();
      await create(rest, `${GROUP}/namespaces/${NS}/inferencepools`, {
        apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: `demo-${i}` },
        spec: {
          model: { name: `demo/model-${i}`, source: `pvc://models/demo-model-${i}`, hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
          runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
          replicas: { min: 2, max: 2 }, gpusPerReplica: 2, gpuModels: ['H100'],
          tee: { types: ['simulated'], gpuCCRequired: false },
          placement: { spreadAcrossProviders: true, maxPerNode: 2 },
          maxPriceCoefficient: 1500, settlementAccountRef: { name: 'sandbox' },
        },
      });
    }
    say(`applied ${o.pools} InferencePools (2 replicas × 2 GPUs each) and SettlementAccount ${NS}/sandbox (network: sandbox)`);
    let traffic: InferenceTraffic | undefined;
    if (inCluster) {
      traffic = await serveOnRealNode(kc, inCluster, say);
      const started = traffic;
      stops.push(() => started.stop());
    }

    // The providers' side: after each confirmed epoch, every payee claims what the epoch entitles it to
    // (on the same sandbox chain the operator commits to), so paid catches up with committed.
    const { providerClaims } = await import('../../../dev/fleet/claims.js');
    const claims = await providerClaims(rest, NS, operator.sandboxDir, say);
    stops.push(() => claims.close());
    settingUp = false;
    checkpoint();

    const deadline = started + o.timeoutSeconds * 1000;
    let last = '';
    // Serving: traffic flows until every pool is Ready and a settlement has confirmed and been claimed.
    // Unattended (--until-ready), the traffic then ends and the demo waits for the last units to be
    // metered, committed and claimed: converged means paid == committed == metered, nothing lost.
    let draining = false; // (--until-ready only)
    for (;;) {
      await claims.afterConfirmedEpochs();
      summary = await observe(rest, started, totalPools);
      if (traffic) {
        // In-cluster every unit is a token the model served: nothing is settled until the replica's
        // sidecar has reported (every 60 s) the last tokens the client received, after the traffic ended.
        const served = traffic.stats();
        summary.converged &&= draining && summary.unitsMetered === served.promptTokens + served.completionTokens;
      }
      const line = demoProgressLine(summary, { nodes: totalNodes, replicas: totalReplicas });
      if (line !== last) say(`[${summary.elapsedSeconds.toFixed(0)}s] ${line}`);
      last = line;
      if (o.untilReady) {
        if (!draining && summary.serving) {
          draining = true;
          fleet.stopTraffic();
          await traffic?.stop();
          say('pools Ready and providers paid: the sample traffic ends now; settling the last units…');
        }
        if (summary.converged || Date.now() > deadline) break;
      } else if (summary.serving && !announcedConverged) {
        announcedConverged = true;
        say(`converged: pools Ready, settlement confirmed and paid. Explore with kubectl --kubeconfig ${plane.kubeconfigPath}; Ctrl-C stops everything.`);
      }
      const r = await Promise.race([interrupted, new Promise((res) => setTimeout(res, 2000))]);
      if (r === 'interrupted') break;
    }
    summary.elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
    if (inCluster) {
      const served = traffic!.stats();
      summary = { ...summary, operator: 'in-cluster', operatorPods: await inCluster.operatorPods(), inferenceRequests: served.requests, tokensServed: served.promptTokens + served.completionTokens };
    }
    if (o.untilReady && o.keep) {
      // The summary goes out now; the cluster stays up for inspection until a signal.
      if (o.json) process.stdout.write(`${JSON.stringify(publicSummary(summary))}\n`);
      say(`${summary.converged ? 'converged' : 'not converged'}; everything keeps running for kubectl --kubeconfig ${plane.kubeconfigPath}; Ctrl-C stops it.`);
      keptSummaryPrinted = true;
      await interrupted;
    }
  } catch (err) {
    if (!(err instanceof StopRequested)) {
      failed = true;
      say(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    say('stopping everything the demo started…');
    await stopAll();
    await restoreLogs();
  }
  const converged = demoConverged({ untilReady: o.untilReady, failed, convergedAtEnd: summary.converged, announcedConverged });
  if (!keptSummaryPrinted) {
    summary.elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
    if (o.json) process.stdout.write(`${JSON.stringify({ ...publicSummary(summary), converged })}\n`);
    else if (o.untilReady) say(converged ? 'converged: every pool Ready, and paid == committed == metered' : 'not converged');
    else say(`${converged ? 'stopped after converging' : 'not converged'}; at the stop: ${demoProgressLine(summary, { nodes: totalNodes, replicas: totalReplicas })}`);
  }
  return converged ? 0 : 1;
}

/**
 * --in-cluster: a pool of one replica that serves a real model on the real node — the tiny llama (random
 * weights, written here) served as a tar by a mirror Pod on the node, its hash computed here in Cocoon's
 * format and checked by the replica's model check, the engine-cpu image answering — and the traffic the
 * demo sends it: verified chat completions (dev/inference-traffic.ts). Only the real node asks a price
 * within the pool's cap, so the replica lands there.
 */
async function serveOnRealNode(kc: KubeConfig, stack: InClusterStack, say: (line: string) => void): Promise<InferenceTraffic> {
  const { startModelMirror, modelHashOf } = await import('../../../dev/model/model-mirror.js');
  const { tinyLlamaGguf } = await import('../../../dev/model/tiny-llama.js');
  const { startInferenceTraffic } = await import('../../../dev/inference-traffic.js');
  const files = { [SERVED_MODEL.file]: tinyLlamaGguf(9) };
  const mirror = await startModelMirror(kc, { namespace: NS, name: 'model-mirror', busyboxImage: stack.node.busyboxImage, nodeName: stack.node.name, files, archive: 'tiny-llama.tar' });
  await create(new RestClient(kc), `${GROUP}/namespaces/${NS}/inferencepools`, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: SERVED_POOL },
    spec: {
      model: { name: SERVED_MODEL.name, source: mirror.url, revision: SERVED_MODEL.revision, file: SERVED_MODEL.file, hash: modelHashOf(SERVED_MODEL.name, SERVED_MODEL.revision, files) },
      runtime: { image: stack.engineImage!, server: 'llama-cpp', port: 8000 },
      replicas: { min: 1, max: 1 }, gpusPerReplica: 1,
      tee: { types: ['simulated'], gpuCCRequired: false },
      maxPriceCoefficient: SERVED_PRICE_CAP, settlementAccountRef: { name: 'sandbox' },
    },
  });
  say(`applied InferencePool ${SERVED_POOL}: ${SERVED_MODEL.name} (llama.cpp on CPU) on the real node, its model from ${mirror.url}; sending it verified chat completions`);
  return startInferenceTraffic({ kc, node: stack.node, namespace: NS, pool: SERVED_POOL, model: SERVED_MODEL.name, policyName: 'default', say: (l) => say(`  ${l}`) });
}

const num = (v: unknown): number => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
};

/** The summary as the cluster's objects state it. */
async function observe(rest: RestClient, started: number, poolCount: number): Promise<Observed> {
  const [pns, pools, accounts] = await Promise.all([
    rest.request<{ items: ProviderNode[] }>('GET', `${GROUP}/providernodes`).catch(() => ({ items: [] })),
    rest.request<{ items: InferencePool[] }>('GET', `${GROUP}/namespaces/${NS}/inferencepools`).catch(() => ({ items: [] })),
    rest.request<{ items: SettlementAccount[] }>('GET', `${GROUP}/namespaces/${NS}/settlementaccounts`).catch(() => ({ items: [] })),
  ]);
  const nodesAttested = pns.items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True')).length;
  const replicasReady = pools.items.reduce((s, p) => s + num(p.status?.replicas?.ready), 0);
  const poolsReady = pools.items.length === poolCount && pools.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  let unitsMetered = 0, unitsPaid = 0, unitsCommitted = 0, settlementTransactions = 0;
  for (const a of accounts.items) {
    const s = a.status as Record<string, any> | undefined;
    unitsMetered += num(s?.totals?.metered);
    unitsPaid += num(s?.totals?.paid);
    unitsCommitted += num(s?.totals?.committed);
    settlementTransactions += num(s?.lastConfirmed?.epoch);
  }
  // Serving: every pool Ready, a settlement confirmed on chain and providers paid for it (while traffic
  // flows, committed runs ahead of paid by up to a period). Converged: also nothing left unsettled.
  const serving = poolsReady && settlementTransactions >= 1 && unitsPaid > 0 && unitsPaid <= unitsCommitted;
  const converged = serving && unitsPaid === unitsCommitted && unitsCommitted === unitsMetered;
  return { serving, converged, nodesAttested, replicasReady, unitsMetered, unitsCommitted, unitsPaid, settlementTransactions, elapsedSeconds: (Date.now() - started) / 1000 };
}
