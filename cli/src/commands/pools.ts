// `chrysalis pools`: InferencePools with their replica counts and readiness. Exit 0 whenever the list
// could be read (use `status` to gate on health); 2 when the cluster cannot be used.
import { Command } from 'commander';
import type { InferencePool } from '../../../operator/src/api/index.js';
import { InferencePools } from '../../../operator/src/kube/chrysalis-resources.js';
import type { Cluster } from '../kube.js';
import { age } from '../views/age.js';
import { colour, health } from '../views/colour.js';
import { asList, formatData, outputOption, type OutputFormat } from '../views/output.js';
import { poolReady, poolReason } from '../views/state.js';
import { renderTable } from '../views/table.js';
import { listOnceOrWatch, watchOption } from '../views/watch.js';

interface PoolsFlags {
  output: OutputFormat;
  selector?: string;
  watch?: boolean;
}

export function poolsTable(pools: readonly InferencePool[], showNamespace: boolean, now = new Date()): string {
  if (pools.length === 0) return 'No InferencePools found.\n';
  const rows = pools.map((p) => {
    const r = p.status?.replicas ?? {};
    const ready = poolReady(p);
    const reason = poolReason(p);
    return [
      ...(showNamespace ? [p.metadata.namespace ?? ''] : []),
      p.metadata.name ?? '',
      p.spec.model.name,
      `${r.ready ?? 0}/${r.desired ?? p.spec.replicas.min}`,
      String(r.placed ?? 0),
      String(r.attested ?? 0),
      String(p.status?.gpus ?? 0),
      health(ready ? 'True' : 'False', ready),
      reason ? colour.yellow(reason) : '',
      age(p.metadata.creationTimestamp as unknown as string | undefined, now),
    ];
  });
  return renderTable([...(showNamespace ? ['namespace'] : []), 'name', 'model', 'ready', 'placed', 'attested', 'gpus', 'status', 'reason', 'age'], rows);
}

async function render(cluster: Cluster, flags: PoolsFlags): Promise<string> {
  const pools = await cluster.list<InferencePool>(InferencePools, { labelSelector: flags.selector });
  pools.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  if (flags.output !== 'table') return formatData(asList(pools), flags.output);
  return poolsTable(pools as InferencePool[], cluster.allNamespaces);
}

export function registerPoolsCommand(program: Command): void {
  program
    .command('pools')
    .alias('pool')
    .summary('list InferencePools and their readiness')
    .description('List InferencePools in the namespace (-A: all): model, ready/desired, placed, attested, GPUs, Ready and why not.\nExit 0: listed; 2: the cluster cannot be used (the message says how to fix it).')
    .addOption(outputOption())
    .option('-l, --selector <selector>', 'label selector, e.g. team=search')
    .addOption(watchOption())
    .action((flags: PoolsFlags, command: Command) => listOnceOrWatch(command, flags.watch, (cluster) => render(cluster, flags)));
}
