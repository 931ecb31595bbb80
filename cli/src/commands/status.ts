// `chrysalis status`: the fleet on one screen — pools ready/attested, nodes attested/quarantined with
// reasons, metered usage, settlement health. Exit codes (for scripts and CI gates):
//   0  healthy: every pool Ready, no node quarantined, no settlement account unhealthy
//   1  something is not: the screen says what
//   2  the cluster cannot be used
// Warnings are shown at the top, under Health, and listed in the JSON, but do not change the exit code:
// an AttestationPolicy in use that allows any guest image (AllowsAnyImage) is a configuration risk the
// operator chose or forgot, not a fleet that stopped serving, and dev/demo clusters run that way on
// purpose; failing the health gate there would teach scripts to ignore exit 1. The line is impossible to
// overlook instead: second on the screen, "Health: OK, 1 warning".
import { Command } from 'commander';
import type { AttestationPolicy, InferencePool, ProviderNode, SettlementAccount } from '../../../operator/src/api/index.js';
import { AttestationPolicies, InferencePools, ProviderNodes, SettlementAccounts } from '../../../operator/src/kube/chrysalis-resources.js';
import { connect, type Cluster } from '../kube.js';
import { colour, health } from '../views/colour.js';
import { formatData, outputOption, type OutputFormat } from '../views/output.js';
import { nodeState, policyWarnings, poolReady, poolReason, settlementHealth, type PolicyWarning } from '../views/state.js';
import { renderTable } from '../views/table.js';
import { watchLoop, watchOption } from '../views/watch.js';

interface StatusFlags {
  output: OutputFormat;
  selector?: string;
  watch?: boolean;
}

export interface StatusSummary {
  healthy: boolean;
  /** Risks that do not make the fleet unhealthy: policies in use that allow any image. */
  warnings: PolicyWarning[];
  pools: { total: number; ready: number; attestedReplicas: number; desiredReplicas: number; notReady: Array<{ pool: string; reason: string }> };
  nodes: { total: number; attested: number; quarantined: number; gpus: { allocated: number; capacity: number }; problems: Array<{ node: string; state: string; reason: string }> };
  usage: { promptTokens: string; generationTokens: string; gpuSeconds: string; units: string };
  settlement: { accounts: number; unhealthy: Array<{ account: string; reason: string }>; metered: string; committed: string; paid: string };
}

const sum = (values: Array<string | undefined>): string => values.reduce((acc, v) => acc + BigInt(v ?? '0'), 0n).toString();

export function summarize(pools: readonly InferencePool[], nodes: readonly ProviderNode[], accounts: readonly SettlementAccount[], now = new Date(), policies: readonly AttestationPolicy[] = []): StatusSummary {
  const notReady = pools.filter((p) => !poolReady(p)).map((p) => ({ pool: `${p.metadata.namespace}/${p.metadata.name}`, reason: poolReason(p) }));
  const states = nodes.map((n) => ({ n, s: nodeState(n, now) }));
  const problems = states
    .filter(({ s }) => s.quarantined || !s.attested)
    .map(({ n, s }) => ({ node: n.metadata.name ?? '', state: s.quarantined ? 'quarantined' : 'not attested', reason: s.reason }));
  const unhealthy = accounts
    .map((a) => ({ a, h: settlementHealth(a) }))
    .filter(({ h }) => !h.healthy)
    .map(({ a, h }) => ({ account: `${a.metadata.namespace}/${a.metadata.name}`, reason: h.reason }));
  const quarantined = states.filter(({ s }) => s.quarantined).length;
  return {
    healthy: notReady.length === 0 && quarantined === 0 && unhealthy.length === 0,
    warnings: policyWarnings(policies, nodes),
    pools: {
      total: pools.length,
      ready: pools.length - notReady.length,
      attestedReplicas: pools.reduce((a, p) => a + (p.status?.replicas?.attested ?? 0), 0),
      desiredReplicas: pools.reduce((a, p) => a + (p.status?.replicas?.desired ?? 0), 0),
      notReady,
    },
    nodes: {
      total: nodes.length,
      attested: states.filter(({ s }) => s.attested).length,
      quarantined,
      gpus: {
        allocated: nodes.reduce((a, n) => a + (n.status?.allocated?.gpus ?? 0), 0),
        capacity: nodes.reduce((a, n) => a + (n.status?.capacity?.gpus ?? n.spec.gpus.count), 0),
      },
      problems,
    },
    // Metered usage is recorded per host and SettlementAccount (ProviderNode status.usage): the usage
    // of the accounts in scope, wherever their replicas ran.
    usage: (() => {
      const inScope = new Set(accounts.map((a) => `${a.metadata.namespace}/${a.metadata.name}`));
      const entries = nodes.flatMap((n) => n.status?.usage ?? []).filter((u) => inScope.has(u.account));
      return {
        promptTokens: sum(entries.map((u) => u.promptTokens)),
        generationTokens: sum(entries.map((u) => u.generationTokens)),
        gpuSeconds: sum(entries.map((u) => u.gpuSeconds)),
        units: sum(entries.map((u) => u.units)),
      };
    })(),
    settlement: {
      accounts: accounts.length,
      unhealthy,
      metered: sum(accounts.map((a) => a.status?.totals?.metered)),
      committed: sum(accounts.map((a) => a.status?.totals?.committed)),
      paid: sum(accounts.map((a) => a.status?.totals?.paid)),
    },
  };
}

export function statusScreen(s: StatusSummary): string {
  const out: string[] = [];
  const warned = s.warnings.length ? `, ${s.warnings.length} warning${s.warnings.length === 1 ? '' : 's'}` : '';
  out.push(`${colour.bold('Health:')}      ${health(s.healthy ? 'OK' : 'DEGRADED', s.healthy)}${colour.yellow(warned)}`);
  for (const w of s.warnings) out.push(`${colour.bold(colour.yellow('WARNING:'))}     ${colour.yellow(`${w.reason}: ${w.message}`)}`);
  out.push(`${colour.bold('Pools:')}       ${health(`${s.pools.ready}/${s.pools.total} ready`, s.pools.ready === s.pools.total)}, ${s.pools.attestedReplicas}/${s.pools.desiredReplicas} replicas attested`);
  out.push(`${colour.bold('Nodes:')}       ${s.nodes.attested}/${s.nodes.total} attested, ${health(`${s.nodes.quarantined} quarantined`, s.nodes.quarantined === 0)}, GPUs ${s.nodes.gpus.allocated}/${s.nodes.gpus.capacity} allocated`);
  out.push(`${colour.bold('Usage:')}       ${s.usage.units} units, ${s.usage.promptTokens} prompt + ${s.usage.generationTokens} generated tokens, ${s.usage.gpuSeconds} GPU-seconds`);
  out.push(`${colour.bold('Settlement:')}  ${health(`${s.settlement.accounts - s.settlement.unhealthy.length}/${s.settlement.accounts} accounts healthy`, s.settlement.unhealthy.length === 0)}, units metered ${s.settlement.metered}, committed ${s.settlement.committed}, paid ${s.settlement.paid}`);
  if (s.pools.notReady.length) out.push('', 'Pools not ready:', renderTable(['pool', 'reason'], s.pools.notReady.map((p) => [p.pool, colour.yellow(p.reason)])).trimEnd());
  if (s.nodes.problems.length) out.push('', 'Nodes not usable:', renderTable(['node', 'state', 'reason'], s.nodes.problems.map((p) => [p.node, p.state === 'quarantined' ? colour.red(p.state) : colour.yellow(p.state), p.reason])).trimEnd());
  if (s.settlement.unhealthy.length) out.push('', 'Settlement accounts unhealthy:', renderTable(['account', 'reason'], s.settlement.unhealthy.map((a) => [a.account, colour.red(a.reason)])).trimEnd());
  return `${out.join('\n')}\n`;
}

async function collect(cluster: Cluster, flags: StatusFlags): Promise<StatusSummary> {
  const labelSelector = flags.selector;
  // Policies are not filtered by the selector: the ones that matter are those the selected nodes use.
  const [pools, nodes, accounts, policies] = await Promise.all([
    cluster.list<InferencePool>(InferencePools, { labelSelector }),
    cluster.list<ProviderNode>(ProviderNodes, { labelSelector }),
    cluster.list<SettlementAccount>(SettlementAccounts, { labelSelector }),
    cluster.list<AttestationPolicy>(AttestationPolicies),
  ]);
  return summarize(pools as InferencePool[], nodes as ProviderNode[], accounts as SettlementAccount[], new Date(), policies as AttestationPolicy[]);
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .summary('the fleet on one screen; exit 1 when anything is unhealthy')
    .description('The fleet on one screen: pools ready/attested, nodes attested/quarantined and why, usage, settlement health,\nand a WARNING line for each AttestationPolicy in use that allows any guest image (shown, not counted in the exit code).\nPools and settlement accounts are those in the namespace (-A: all namespaces); nodes are cluster-wide.\nExit 0: healthy (every pool Ready, no node quarantined, no settlement account EndpointUnreachable/Underfunded/not Synced);\n1: something is not healthy (listed); 2: the cluster cannot be used.')
    .addOption(outputOption())
    .option('-l, --selector <selector>', 'label selector applied to pools, nodes and settlement accounts')
    .addOption(watchOption())
    .action(async (flags: StatusFlags, command: Command) => {
      const cluster = connect(command);
      try {
        const render = async () => {
          const s = await collect(cluster, flags);
          return flags.output === 'table' ? statusScreen(s) : formatData(s, flags.output);
        };
        if (flags.watch) {
          await watchLoop(render);
          return;
        }
        const s = await collect(cluster, flags);
        process.stdout.write(flags.output === 'table' ? statusScreen(s) : formatData(s, flags.output));
        process.exitCode = s.healthy ? 0 : 1;
      } finally {
        cluster.close();
      }
    });
}
