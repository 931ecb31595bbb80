// `chrysalis nodes`: the GPU hosts (ProviderNodes) with their attestation state. Exit 0 whenever the
// list could be read (use `status` to gate on health); 2 when the cluster cannot be used.
import { Command } from 'commander';
import type { ProviderNode } from '../../../operator/src/api/index.js';
import { ProviderNodes } from '../../../operator/src/kube/chrysalis-resources.js';
import type { Cluster } from '../kube.js';
import { age, duration } from '../views/age.js';
import { colour, health } from '../views/colour.js';
import { asList, formatData, outputOption, type OutputFormat } from '../views/output.js';
import { nodeState } from '../views/state.js';
import { renderTable } from '../views/table.js';
import { listOnceOrWatch, watchOption } from '../views/watch.js';

interface NodesFlags {
  output: OutputFormat;
  selector?: string;
  watch?: boolean;
}

export function nodesTable(nodes: readonly ProviderNode[], now = new Date()): string {
  if (nodes.length === 0) return 'No ProviderNodes found.\n';
  const rows = nodes.map((n) => {
    const s = nodeState(n, now);
    const cap = n.status?.capacity?.gpus ?? n.spec.gpus.count;
    const expires = n.status?.attestation?.expiresAt;
    return [
      n.metadata.name ?? '',
      n.spec.nodeName,
      n.spec.tee,
      `${n.status?.allocated?.gpus ?? 0}/${cap} ${n.spec.gpus.model}`,
      health(s.attested ? 'yes' : 'no', s.attested),
      s.quarantined ? colour.red('yes') : 'no',
      s.reason ? colour.yellow(s.reason) : '',
      expires ? (Date.parse(expires) > now.getTime() ? duration(Date.parse(expires) - now.getTime()) : colour.red('expired')) : '',
      age(n.metadata.creationTimestamp as unknown as string | undefined, now),
    ];
  });
  return renderTable(['name', 'node', 'tee', 'gpus', 'attested', 'quarantined', 'reason', 'expires', 'age'], rows);
}

async function render(cluster: Cluster, flags: NodesFlags): Promise<string> {
  const nodes = await cluster.list<ProviderNode>(ProviderNodes, { labelSelector: flags.selector });
  nodes.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  if (flags.output !== 'table') return formatData(asList(nodes), flags.output);
  return nodesTable(nodes);
}

export function registerNodesCommand(program: Command): void {
  program
    .command('nodes')
    .alias('node')
    .summary('list GPU hosts (ProviderNodes) and their attestation state')
    .description('List GPU hosts (ProviderNodes): attested, quarantined and why, GPUs allocated/capacity, attestation expiry.\nExit 0: listed; 2: the cluster cannot be used (the message says how to fix it).')
    .addOption(outputOption())
    .option('-l, --selector <selector>', 'label selector, e.g. chrysalis.dev/gpu-model=H100')
    .addOption(watchOption())
    .action((flags: NodesFlags, command: Command) => listOnceOrWatch(command, flags.watch, (cluster) => render(cluster, flags)));
}
