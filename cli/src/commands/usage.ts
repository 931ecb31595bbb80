// `chrysalis usage [--pool P] [--node N]`: metered usage as the operator folded it from signed replica
// reports. Without --pool: one row per ProviderNode and SettlementAccount (cumulative totals, the numbers
// settlement commits). With --pool: one row per replica of the pool (namespace from -n) from the metering
// cursors — the billable tokens (unpriced; the per-host units are priced) folded from each current replica
// over all its boots. Exit 0 when listed; 2 on unusable input.
import { Command } from 'commander';
import type { ProviderNode } from '../../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../../operator/src/kube/chrysalis-resources.js';
import { connect, UsageError, type Cluster } from '../kube.js';
import { formatData, outputOption, type OutputFormat } from '../views/output.js';
import { renderTable } from '../views/table.js';

interface UsageFlags { pool?: string; node?: string; output: OutputFormat }

export interface UsageRow {
  providerNode: string;
  payoutAddress: string;
  account: string;
  promptTokens: string;
  generationTokens: string;
  gpuSeconds: string;
  units: string;
}

export interface ReplicaUsageRow {
  pod: string;
  providerNode: string;
  account: string;
  bootId: string;
  sequence: number;
  units: string;
  at?: string;
}

export function usageRows(nodes: readonly ProviderNode[]): UsageRow[] {
  return nodes.flatMap((n) => (n.status?.usage ?? []).map((u) => ({
    providerNode: n.metadata.name ?? '', payoutAddress: n.spec.payoutAddress, account: u.account,
    promptTokens: u.promptTokens ?? '0', generationTokens: u.generationTokens ?? '0', gpuSeconds: u.gpuSeconds ?? '0', units: u.units ?? '0',
  })));
}

export function replicaRows(nodes: readonly ProviderNode[], pool: string): ReplicaUsageRow[] {
  return nodes.flatMap((n) => (n.status?.usageCursors ?? []).filter((c) => c.pool === pool).map((c) => ({
    pod: c.pod, providerNode: n.metadata.name ?? '', account: c.account ?? '', bootId: c.bootId, sequence: c.sequence,
    units: c.units ?? '0', ...(c.at ? { at: c.at } : {}),
  })));
}

async function render(cluster: Cluster, flags: UsageFlags): Promise<string> {
  if (flags.pool !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(flags.pool)) {
    throw new UsageError(`--pool: ${JSON.stringify(flags.pool)} is not an InferencePool name (the namespace comes from -n)`);
  }
  let nodes: ProviderNode[];
  if (flags.node !== undefined) nodes = [await cluster.get<ProviderNode>(ProviderNodes, flags.node)];
  else nodes = await cluster.list<ProviderNode>(ProviderNodes);
  nodes.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  if (flags.pool !== undefined) {
    const rows = replicaRows(nodes, `${cluster.namespace}/${flags.pool}`);
    if (flags.output !== 'table') return formatData({ pool: `${cluster.namespace}/${flags.pool}`, replicas: rows, units: rows.reduce((s, r) => s + BigInt(r.units), 0n).toString() }, flags.output);
    if (rows.length === 0) return `No metered replicas of ${cluster.namespace}/${flags.pool}.\n`;
    return renderTable(['pod', 'provider node', 'account', 'boot', 'seq', 'tokens', 'last report'],
      rows.map((r) => [r.pod, r.providerNode, r.account, r.bootId, String(r.sequence), r.units, r.at ?? '']));
  }
  const rows = usageRows(nodes);
  if (flags.output !== 'table') return formatData({ usage: rows }, flags.output);
  if (rows.length === 0) return 'No metered usage yet.\n';
  return renderTable(['provider node', 'account', 'prompt tokens', 'generation tokens', 'gpu-seconds', 'units', 'payout'],
    rows.map((r) => [r.providerNode, r.account, r.promptTokens, r.generationTokens, r.gpuSeconds, r.units, r.payoutAddress]));
}

export function registerUsageCommand(program: Command): void {
  program
    .command('usage')
    .summary('metered usage per GPU host and settlement account, or per replica of a pool')
    .description('Metered usage folded from signed replica reports: per ProviderNode and SettlementAccount, or with --pool per replica of the pool.\nExit 0: listed; 2: unusable input.')
    .option('--pool <name>', 'InferencePool (in -n) whose replicas to show')
    .option('--node <name>', 'only this ProviderNode')
    .addOption(outputOption())
    .action(async (flags: UsageFlags, command: Command) => {
      const cluster = connect(command);
      try {
        process.stdout.write(await render(cluster, flags));
      } finally {
        cluster.close();
      }
    });
}
