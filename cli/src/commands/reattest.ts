// `chrysalis reattest`: ask the operator to re-check GPU hosts now, ahead of their schedule — after a
// firmware or driver update, or when a host is suspect. It sets the annotation
// chrysalis.dev/reattest-requested-at on each ProviderNode (the controller challenges each new value once;
// controllers/providernode/early-recheck.ts); with --wait it then follows each node until the evidence
// answering that challenge is judged. A request only brings a challenge forward: the node keeps the
// verdict its last evidence earned until then.
// Exit codes: 0 requested (with --wait: every node verified); 1 with --wait: a node was rejected or not
// judged within --timeout; 2 unusable input or cluster, and then nothing was written.
import { Command, Option } from 'commander';
import type { ProviderNode } from '../../../operator/src/api/index.js';
import { ProviderNodes } from '../../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../../operator/src/kube/resource.js';
import { RestClient } from '../../../operator/src/kube/rest.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../../operator/src/marks.js';
import { connect, UsageError, type Cluster } from '../kube.js';
import { reattestProgress, verdictBefore, type SeenChallenge, type VerdictBefore } from '../views/reattest-progress.js';

interface ReattestFlags {
  selector?: string;
  all?: boolean;
  wait?: boolean;
  timeout: string;
}

const POLL_MS = 1000;

/** The ProviderNodes named, or selected: every one must exist before anything is written. */
async function targets(cluster: Cluster, names: readonly string[], flags: ReattestFlags): Promise<ProviderNode[]> {
  const ways = [names.length > 0, flags.selector !== undefined, flags.all === true].filter(Boolean).length;
  if (ways !== 1) throw new UsageError('name the ProviderNodes to re-check (chrysalis reattest NAME...), or pass one of -l SELECTOR or --all');
  if (names.length > 0) return Promise.all(names.map((name) => cluster.get<ProviderNode>(ProviderNodes, name)));
  const found = await cluster.list<ProviderNode>(ProviderNodes, { labelSelector: flags.selector });
  if (found.length === 0) throw new UsageError(flags.all ? 'no ProviderNodes in the cluster' : `no ProviderNodes match -l ${flags.selector}`);
  return found.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

export function registerReattestCommand(program: Command): void {
  program
    .command('reattest')
    .argument('[names...]', 'ProviderNodes to re-check')
    .summary('re-check GPU hosts now, ahead of their attestation schedule')
    .description(
      `Asks the operator to challenge each ProviderNode now for fresh evidence (sets the annotation ${ANNOTATION_REATTEST_REQUEST} to the current time; ` +
        '`kubectl annotate providernode NAME ' + ANNOTATION_REATTEST_REQUEST + '=$(date -u +%FT%TZ) --overwrite` does the same). ' +
        'A node keeps its current verdict until the new evidence is judged; evidence that fails quarantines it as any failed re-check does.\n' +
        'Exit 0: requested (with --wait: every node verified); 1: with --wait, a node was rejected or not judged in time; 2: bad input or the cluster cannot be used (nothing written).',
    )
    .option('-l, --selector <selector>', 'the ProviderNodes matching a label selector')
    .option('--all', 'every ProviderNode')
    .option('--wait', 'wait until each node\'s new evidence is judged, and print the verdicts')
    .addOption(new Option('--timeout <seconds>', 'with --wait, how long to wait').default('300'))
    .action(async (names: string[], flags: ReattestFlags, command: Command) => {
      const timeoutSeconds = Number(flags.timeout);
      if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 86_400) {
        throw new UsageError(`--timeout must be a whole number of seconds from 1 to 86400, got "${flags.timeout}"`);
      }
      const cluster = connect(command);
      const rest = new RestClient(cluster.kc, { userAgent: 'chrysalis-cli', timeoutMs: 15_000 });
      try {
        const nodes = await targets(cluster, names, flags);
        // Milliseconds: two requests within a second are two values, so each is answered.
        const value = new Date().toISOString();
        const before = new Map<string, VerdictBefore>(nodes.map((n) => [n.metadata.name!, verdictBefore(n)]));
        const requested: string[] = [];
        for (const node of nodes) {
          const name = node.metadata.name!;
          try {
            await rest.request('PATCH', resourcePath(ProviderNodes, undefined, name), {
              contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [ANNOTATION_REATTEST_REQUEST]: value } } },
            });
          } catch (err) {
            const done = requested.length ? ` (already requested: ${requested.join(', ')})` : '';
            throw new UsageError(`cannot annotate ProviderNode ${name}: ${(err as Error).message.split('\n')[0]}${done}`);
          }
          requested.push(name);
        }
        process.stdout.write(`re-check requested for ${requested.length} ProviderNode(s): ${requested.join(', ')} (${ANNOTATION_REATTEST_REQUEST}=${value})\n`);
        if (!flags.wait) return;
        const selection = names.length > 0 ? undefined : { labelSelector: flags.selector };
        process.exitCode = await waitForVerdicts(cluster, requested, value, before, timeoutSeconds, selection);
      } finally {
        rest.close();
        cluster.close();
      }
    });
}

/** Follows each node until its re-check is judged; prints one line per node as it is. Returns the exit code. */
async function waitForVerdicts(cluster: Cluster, names: readonly string[], value: string, before: ReadonlyMap<string, VerdictBefore>, timeoutSeconds: number, selection?: { labelSelector?: string }): Promise<number> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const seen = new Map<string, SeenChallenge>();
  const open = new Set(names);
  /** What each node still open was last seen waiting for, for the timeout's message. */
  const awaiting = new Map<string, string>();
  let failed = false;
  while (open.size > 0 && Date.now() < deadline) {
    // Nodes named are read one by one; a selection (-l, --all: perhaps a fleet) with one list per poll, not a GET per node.
    const listed = selection ? new Map((await cluster.list<ProviderNode>(ProviderNodes, { labelSelector: selection.labelSelector })).map((n) => [n.metadata.name!, n])) : undefined;
    for (const name of open) {
      const node = listed ? listed.get(name) : await cluster.get<ProviderNode>(ProviderNodes, name);
      if (!node) {
        open.delete(name);
        failed = true;
        process.stdout.write(`${name}: deleted while waiting\n`);
        continue;
      }
      const progress = reattestProgress(node, value, before.get(name)!, seen.get(name));
      if (progress.seen) seen.set(name, progress.seen);
      if (progress.state === 'waiting') {
        awaiting.set(name, progress.detail);
        continue;
      }
      open.delete(name);
      if (progress.state === 'rejected') failed = true;
      process.stdout.write(`${name}: ${progress.state === 'verified' ? 'verified' : 'REJECTED'} — ${progress.detail}\n`);
    }
    if (open.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
  }
  for (const name of open) process.stdout.write(`${name}: not judged within ${timeoutSeconds} s — ${awaiting.get(name) ?? 'no answer yet'}\n`);
  return failed || open.size > 0 ? 1 : 0;
}
