// `chrysalis collateral status`: what collateral each attestation service replica holds (TDX TCB info,
// QE identity, CRLs; SEV-SNP VCEKs and AMD CRLs; NVIDIA OCSP responses), read from the replica's own metrics through the API server's Pod
// proxy, since every replica keeps its own cache. Exit codes:
//   0  every item a replica has needed is current (fresh, or due for a refresh that has not failed it yet)
//   1  an item is stale or missing, or a replica could not be read: evidence that needs it is refused
//   2  the cluster cannot be used
import { Command } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { Pods } from '../../../operator/src/kube/resource.js';
import { RestClient } from '../../../operator/src/kube/rest.js';
import { connect, UsageError } from '../kube.js';
import { registerCollateralImport } from './collateral-import.js';
import { colour, health } from '../views/colour.js';
import { formatData, outputOption, type OutputFormat } from '../views/output.js';
import { renderTable } from '../views/table.js';

const DEFAULT_SELECTOR = 'app.kubernetes.io/component=attestation-service';

export interface CollateralItem {
  family: string;
  kind: string;
  key: string;
  state: string;
  /** ISO time; for a VCEK, its notAfter. */
  nextUpdate?: string;
}

export interface ReplicaCollateral {
  pod: string;
  items: CollateralItem[];
  /** Fetches by family/kind/result since the replica started. */
  fetches: Array<{ family: string; kind: string; result: string; count: number }>;
  /** Why the replica's metrics could not be read. */
  error?: string;
}

export interface CollateralReport {
  healthy: boolean;
  replicas: ReplicaCollateral[];
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The collateral items and fetch counts in one replica's Prometheus text (chrysalis_collateral_*). */
export function collateralFromMetrics(text: string): Omit<ReplicaCollateral, 'pod'> {
  const all = samples(text);
  const id = (l: Record<string, string>) => `${l.family}/${l.kind}/${l.key}`;
  const nextUpdate = new Map(all.filter((s) => s.name === 'chrysalis_collateral_next_update_timestamp_seconds').map((s) => [id(s.labels), new Date(s.value * 1000).toISOString()]));
  const items = all
    .filter((s) => s.name === 'chrysalis_collateral_state' && s.value === 1)
    .map((s): CollateralItem => ({ family: s.labels.family!, kind: s.labels.kind!, key: s.labels.key!, state: s.labels.state!, ...(nextUpdate.has(id(s.labels)) ? { nextUpdate: nextUpdate.get(id(s.labels))! } : {}) }))
    .sort((a, b) => a.family.localeCompare(b.family) || a.kind.localeCompare(b.kind) || a.key.localeCompare(b.key));
  const fetches = all
    .filter((s) => s.name === 'chrysalis_collateral_fetches_total')
    .map((s) => ({ family: s.labels.family!, kind: s.labels.kind!, result: s.labels.result!, count: s.value }));
  return { items, fetches };
}

export function collateralHealthy(replicas: readonly ReplicaCollateral[]): boolean {
  return replicas.every((r) => r.error === undefined && r.items.every((i) => i.state === 'fresh' || i.state === 'refresh-due'));
}

export function collateralScreen(report: CollateralReport): string {
  const out: string[] = [`${colour.bold('Collateral:')}  ${health(report.healthy ? 'OK' : 'DEGRADED', report.healthy)} (${report.replicas.length} attestation service replica${report.replicas.length === 1 ? '' : 's'})`];
  const rows: string[][] = [];
  for (const r of report.replicas) {
    if (r.error) rows.push([r.pod, '', '', '', colour.red('unreadable'), r.error]);
    else if (r.items.length === 0) rows.push([r.pod, '', '', '', 'none needed yet', '']);
    for (const i of r.items) {
      const state = i.state === 'fresh' ? colour.green(i.state) : i.state === 'refresh-due' ? colour.yellow(i.state) : colour.red(i.state);
      rows.push([r.pod, i.family, i.kind, i.key, state, i.nextUpdate ?? '']);
    }
  }
  out.push('', renderTable(['replica', 'family', 'kind', 'key', 'state', 'next update'], rows).trimEnd());
  const failed = report.replicas.flatMap((r) => r.fetches.filter((f) => f.result !== 'ok' && f.count > 0).map((f) => `${r.pod}: ${f.count} ${f.family} ${f.kind} fetch(es) ${f.result}`));
  if (failed.length) out.push('', 'Fetches that did not succeed (the operator log says why):', ...failed.map((f) => `  ${f}`));
  return `${out.join('\n')}\n`;
}

function metricsPort(pod: V1Pod): number | undefined {
  for (const c of pod.spec?.containers ?? []) {
    const port = c.ports?.find((p) => p.name === 'metrics');
    if (port) return port.containerPort;
  }
  return undefined;
}

export function registerCollateralCommand(program: Command): void {
  const collateral = program.command('collateral').summary('the attestation service\'s collateral (TDX TCB info, QE identity, CRLs; SEV-SNP VCEKs, AMD CRLs; NVIDIA OCSP)');
  registerCollateralImport(collateral);
  collateral
    .command('status')
    .summary('what each attestation service replica has cached; exit 1 when an item is stale or missing')
    .description(
      "What each attestation service replica holds, read from its metrics through the API server's Pod proxy (needs get on pods/proxy in the operator's namespace: -n). " +
        'Evidence that needs a stale or missing item is refused (COLLATERAL_INVALID, COLLATERAL_MISSING).\n' +
        'Exit 0: every item current; 1: one is stale or missing, or a replica could not be read; 2: the cluster cannot be used.',
    )
    .addOption(outputOption())
    .option('-l, --selector <selector>', 'label selector of the attestation service Pods', DEFAULT_SELECTOR)
    .action(async (flags: { output: OutputFormat; selector: string }, command: Command) => {
      const cluster = connect(command);
      const rest = new RestClient(cluster.kc, { userAgent: 'chrysalis-cli', timeoutMs: 15_000 });
      try {
        const pods = (await cluster.list<V1Pod>(Pods, { labelSelector: flags.selector, namespace: cluster.namespace })).filter((p) => p.status?.phase === 'Running');
        if (pods.length === 0) {
          throw new UsageError(`no running attestation service Pods (${flags.selector}) in namespace ${cluster.namespace}: pass -n <the operator's namespace>, or --selector`);
        }
        const replicas = await Promise.all(
          pods.map(async (pod): Promise<ReplicaCollateral> => {
            const name = pod.metadata!.name!;
            const port = metricsPort(pod);
            if (port === undefined) return { pod: name, items: [], fetches: [], error: 'the Pod has no container port named "metrics"' };
            try {
              const text = await rest.getText(`/api/v1/namespaces/${encodeURIComponent(cluster.namespace)}/pods/${encodeURIComponent(name)}:${port}/proxy/metrics`);
              return { pod: name, ...collateralFromMetrics(text) };
            } catch (err) {
              return { pod: name, items: [], fetches: [], error: (err as Error).message.split('\n')[0]!.slice(0, 200) };
            }
          }),
        );
        const report: CollateralReport = { healthy: collateralHealthy(replicas), replicas };
        process.stdout.write(flags.output === 'table' ? collateralScreen(report) : formatData(report, flags.output));
        process.exitCode = report.healthy ? 0 : 1;
      } finally {
        rest.close();
        cluster.close();
      }
    });
}
