// `chrysalis describe KIND NAME`: one object in depth — spec summary, conditions, attestation claims,
// placements, recent events (events.k8s.io/v1 whose `regarding` is the object). KIND takes the full
// name, plural or short name: providernode/pnode, inferencepool/ipool, attestationpolicy/apol,
// settlementaccount/sacct. Exit 0: described; 2: unknown kind, object not found, cluster unusable.
import { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { RESOURCES, type Condition, type InferencePool, type ProviderNode } from '../../../operator/src/api/index.js';
import { AttestationPolicies, InferencePools, ProviderNodes, SettlementAccounts } from '../../../operator/src/kube/chrysalis-resources.js';
import { Events, Pods, type KubeObject, type ResourceType } from '../../../operator/src/kube/resource.js';
import { reattestRequestOf, unansweredReplicaFailure } from '../../../operator/src/controllers/providernode/early-recheck.js';
import { modelCheckOf } from '../../../operator/src/controllers/inferencepool/model-verified.js';
import { replicaTemplateHash } from '../../../operator/src/controllers/inferencepool/template-hash.js';
import type { InitStatusLike } from '../../../operator/src/kube/cached-shape.js';
import { ANNOTATION_REATTEST_REQUEST, LABEL_POOL, LABEL_TEMPLATE_HASH } from '../../../operator/src/marks.js';
import { connect, UsageError } from '../kube.js';
import { age } from '../views/age.js';
import { formatData, outputOption, type OutputFormat } from '../views/output.js';
import { nodeState, poolReady } from '../views/state.js';
import { renderFields, renderTable } from '../views/table.js';

const KINDS: Array<{ info: (typeof RESOURCES)[keyof typeof RESOURCES]; resource: ResourceType }> = [
  { info: RESOURCES.ProviderNode, resource: ProviderNodes },
  { info: RESOURCES.InferencePool, resource: InferencePools },
  { info: RESOURCES.AttestationPolicy, resource: AttestationPolicies },
  { info: RESOURCES.SettlementAccount, resource: SettlementAccounts },
];

export function resolveKind(text: string): ResourceType {
  const t = text.toLowerCase().replace(/\.chrysalis\.dev$/, '');
  for (const { info, resource } of KINDS) {
    if ([info.kind.toLowerCase(), info.plural, info.singular, ...info.shortNames].includes(t)) return resource;
  }
  const names = KINDS.map(({ info }) => `${info.singular} (${info.shortNames.join(', ')})`).join(', ');
  throw new UsageError(`unknown kind "${text}": use one of ${names}`);
}

interface EventObject {
  type?: string;
  reason?: string;
  note?: string;
  eventTime?: string;
  deprecatedLastTimestamp?: string;
  series?: { count?: number; lastObservedTime?: string };
  metadata?: { creationTimestamp?: string };
  regarding?: { uid?: string; name?: string; kind?: string };
  reportingController?: string;
}

function conditionsTable(conditions: readonly Condition[] | undefined, now: Date): string {
  if (!conditions?.length) return '  <none>\n';
  return renderTable(['type', 'status', 'reason', 'age', 'message'], conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message]))
    .replace(/^/gm, '  ');
}

function section(title: string, body: string): string {
  return `${title}:\n${body.endsWith('\n') ? body : `${body}\n`}`;
}

function providerNodeBody(n: ProviderNode, now: Date): string {
  const s = nodeState(n, now);
  const a = n.status?.attestation;
  let out = renderFields([
    ['Node', n.spec.nodeName],
    ['TEE', n.spec.tee],
    ['GPUs', `${n.spec.gpus.count} × ${n.spec.gpus.model} (CC ${n.spec.gpus.ccMode ?? 'on'}), ${n.status?.allocated?.gpus ?? 0} allocated of ${n.status?.capacity?.gpus ?? n.spec.gpus.count}`],
    ['Payout', n.spec.payoutAddress],
    ['Price', `${n.spec.priceCoefficient ?? 1000}/1000`],
    ['Policy', n.spec.policyRef?.name ?? 'default'],
    ['Cordoned', n.spec.cordoned ? 'yes' : 'no'],
    ['Attested', s.attested ? 'yes' : `no${s.reason ? ` (${s.reason})` : ''}`],
    ['Quarantined', s.quarantined ? `yes: ${n.status?.quarantine?.reason ?? ''} since ${n.status?.quarantine?.since ?? '?'}` : 'no'],
  ]);
  out += section('Conditions', conditionsTable(n.status?.conditions, now));
  if (a) {
    const tcb = a.tcb ? `bootloader=${a.tcb.bootloader ?? '?'} tee=${a.tcb.tee ?? '?'} snp=${a.tcb.snp ?? '?'} microcode=${a.tcb.microcode ?? '?'}` : a.tcbStatus;
    out += section('Attestation', renderFields([
      ['Verified', a.verifiedAt ? `${a.verifiedAt} (${age(a.verifiedAt, now)} ago)` : undefined],
      ['Expires', a.expiresAt],
      ['Measurement', a.measurement],
      ['Image hash', a.imageHash],
      ['TCB', tcb],
      ['TCB status', a.tcb ? a.tcbStatus : undefined],
      ['Chip ID', a.chipId],
      ['Public key', a.publicKey],
      ['Simulated', a.simulated ? 'yes (not hardware evidence)' : undefined],
      ['Last failure', a.lastFailure ? `${a.lastFailure.code}: ${a.lastFailure.message} (${age(a.lastFailure.at, now)} ago)` : undefined],
      ['Challenge', a.challenge ? `pending since ${a.challenge.issuedAt}, answerable until ${a.challenge.expiresAt}` : undefined],
      ['Re-check asked', reattestAsked(n)],
      ['Replica failure', replicaFailureOf(n, now)],
    ], '  '));
    if (a.gpus?.length) {
      out += renderTable(['gpu', 'model', 'driver', 'vbios', 'cc', 'device id'], a.gpus.map((g) => [String(g.index), g.model ?? '', g.driverVersion ?? '', g.vbiosVersion ?? '', g.ccMode ?? '', g.deviceId ?? '']))
        .replace(/^/gm, '  ');
    }
  }
  if (n.status?.usage?.length) {
    out += section('Usage', renderTable(['account', 'units', 'prompt', 'generated', 'gpu-seconds'], n.status.usage.map((u) => [u.account, u.units ?? '0', u.promptTokens ?? '0', u.generationTokens ?? '0', u.gpuSeconds ?? '0'])).replace(/^/gm, '  '));
  }
  return out;
}

/** The re-check asked for with the annotation (chrysalis reattest), and whether the controller has answered it yet. */
function reattestAsked(n: ProviderNode): string | undefined {
  const asked = reattestRequestOf(n);
  if (asked === undefined) return undefined;
  const value = n.metadata.annotations![ANNOTATION_REATTEST_REQUEST]!;
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return `${shown} (${n.status?.attestation?.reattestRequest === asked ? 'challenged' : 'not challenged yet'})`;
}

/**
 * The last failure of a replica's evidence on the state this host shares with it (node-cvm), and whether
 * it still brings the host's re-check forward (newer than the host's verification) or was answered by it.
 */
export function replicaFailureOf(n: ProviderNode, now: Date): string | undefined {
  const f = n.status?.attestation?.replicaFailure;
  if (!f) return undefined;
  const open = unansweredReplicaFailure(n) !== undefined;
  return `${f.code} in replica ${f.pod}'s evidence (${age(f.at, now)} ago): ${open ? 'the host is re-checked ahead of its schedule' : 'answered by the host\'s verification since'}`;
}

/**
 * How far the pool's replicas built for its current spec are with checking the model against
 * spec.model.hash, counted from their Pods as the controller reads them (ModelVerified's message names no
 * count, so that each replica's finished check is not a write of the pool's status). Undefined when the
 * Pods could not be read.
 */
export function modelChecksOf(pool: InferencePool, pods: readonly KubeObject[] | undefined): string | undefined {
  if (!pods) return undefined;
  const templateHash = replicaTemplateHash(pool);
  const current = pods.filter((pod) => pod.metadata?.labels?.[LABEL_TEMPLATE_HASH] === templateHash);
  if (!current.length) return 'no replica built for the current spec yet';
  const counts = { verified: 0, pending: 0, failed: 0 };
  for (const pod of current) {
    const statuses = (pod.status as { initContainerStatuses?: InitStatusLike[] } | undefined)?.initContainerStatuses;
    const check = modelCheckOf(statuses, pool.spec.model.hash);
    if (check.state === 'verified') counts.verified++;
    else if (check.state === 'pending') counts.pending++;
    else counts.failed++;
  }
  const parts = [`${counts.verified} of ${current.length} replicas on the current spec verified the model's hash`];
  if (counts.pending) parts.push(`${counts.pending} still checking`);
  if (counts.failed) parts.push(`${counts.failed} failed (see the ModelVerified condition)`);
  return parts.join(', ');
}

function poolBody(p: InferencePool, now: Date, pods: readonly KubeObject[] | undefined): string {
  const r = p.status?.replicas ?? {};
  let out = renderFields([
    ['Namespace', p.metadata.namespace],
    ['Model', `${p.spec.model.name} (${p.spec.model.source}, sha256 ${p.spec.model.hash})`],
    ['Image', p.spec.runtime.image],
    ['Replicas', `min ${p.spec.replicas.min}, max ${p.spec.replicas.max}; desired ${r.desired ?? 0}, placed ${r.placed ?? 0}, attested ${r.attested ?? 0}, ready ${r.ready ?? 0}`],
    ['GPUs', `${p.spec.gpusPerReplica ?? 1} per replica${p.spec.gpuModels?.length ? ` of ${p.spec.gpuModels.join('/')}` : ''}; ${p.status?.gpus ?? 0} allocated`],
    ['TEE', `${(p.spec.tee?.types ?? ['sev-snp', 'tdx']).join(', ')}; GPU CC ${p.spec.tee?.gpuCCRequired === false ? 'optional' : 'required'}`],
    ['Max price', p.spec.maxPriceCoefficient !== undefined ? `${p.spec.maxPriceCoefficient}/1000` : 'no cap'],
    ['Settlement', p.spec.settlementAccountRef.name],
    ['Ready', poolReady(p) ? 'yes' : 'no'],
    ['Model check', modelChecksOf(p, pods) ?? '<the pool\'s Pods could not be read>'],
  ]);
  out += section('Conditions', conditionsTable(p.status?.conditions, now));
  const placements = p.status?.placements ?? [];
  out += section('Placements', placements.length ? renderTable(['pod', 'node', 'provider'], placements.map((pl) => [pl.pod, pl.node, pl.provider ?? ''])).replace(/^/gm, '  ') : '  <none>\n');
  return out;
}

function genericBody(obj: KubeObject, now: Date): string {
  const status = (obj.status ?? {}) as { conditions?: Condition[] } & Record<string, unknown>;
  const { conditions, ...rest } = status;
  let out = section('Spec', toYaml(obj.spec ?? {}).replace(/^/gm, '  '));
  out += section('Conditions', conditionsTable(conditions, now));
  if (Object.keys(rest).length) out += section('Status', toYaml(rest).replace(/^/gm, '  '));
  return out;
}

function eventsTable(events: readonly EventObject[], now: Date): string {
  if (!events.length) return '  <none>\n';
  const when = (e: EventObject) => e.series?.lastObservedTime ?? e.eventTime ?? e.deprecatedLastTimestamp ?? e.metadata?.creationTimestamp;
  const sorted = [...events].sort((a, b) => Date.parse(when(a) ?? '') - Date.parse(when(b) ?? '')).slice(-20);
  return renderTable(['type', 'reason', 'age', 'from', 'message'], sorted.map((e) => [e.type ?? '', e.reason ?? '', `${age(when(e), now)}${e.series?.count ? ` (x${e.series.count})` : ''}`, e.reportingController ?? '', e.note ?? '']))
    .replace(/^/gm, '  ');
}

interface DescribeFlags {
  output: OutputFormat;
}

export function registerDescribeCommand(program: Command): void {
  program
    .command('describe')
    .summary('show one object in depth: conditions, attestation claims, placements, events')
    .description('Show one Chrysalis object in depth: spec summary, conditions, attestation claims (measurement, image hash, TCB,\nchip id, GPUs with driver/VBIOS/CC), placements, usage, and recent events.\nKIND: providernode|pnode, inferencepool|ipool, attestationpolicy|apol, settlementaccount|sacct.\nExit 0: described; 2: unknown kind, no such object, or the cluster cannot be used.')
    .argument('<kind>', 'kind, plural or short name (pnode, ipool, apol, sacct)')
    .argument('<name>', 'object name (namespaced kinds: in -n NAMESPACE)')
    .addOption(outputOption())
    .action(async (kindText: string, name: string, flags: DescribeFlags, command: Command) => {
      const resource = resolveKind(kindText);
      const cluster = connect(command);
      try {
        const now = new Date();
        const obj = await cluster.get<KubeObject>(resource, name);
        const uid = obj.metadata?.uid ?? '';
        // Events of cluster-scoped objects live in "default" (the operator's recorder puts them there).
        const eventNamespace = resource.namespaced ? obj.metadata?.namespace ?? cluster.namespace : 'default';
        const events = (
          await cluster
            .list<EventObject>(Events, { namespace: eventNamespace, fieldSelector: `regarding.uid=${uid}` })
            .catch(() => cluster.list<EventObject>(Events, { namespace: eventNamespace }))
            .catch(() => [] as EventObject[])
        ).filter((e) => e.regarding?.uid === uid);
        if (flags.output !== 'table') {
          process.stdout.write(formatData({ object: obj, events }, flags.output));
          return;
        }
        let out = renderFields([['Name', obj.metadata?.name], ['Kind', resource.kind], ['Created', `${String(obj.metadata?.creationTimestamp)} (${age(obj.metadata?.creationTimestamp as string | undefined, now)} ago)`]]);
        const labels = Object.entries(obj.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
        out += renderFields([['Labels', labels || '<none>']]);
        if (resource === ProviderNodes) out += providerNodeBody(obj as unknown as ProviderNode, now);
        else if (resource === InferencePools) {
          const pods = await cluster.list<KubeObject>(Pods, { namespace: obj.metadata?.namespace ?? cluster.namespace, labelSelector: `${LABEL_POOL}=${obj.metadata?.name}` }).catch(() => undefined);
          out += poolBody(obj as unknown as InferencePool, now, pods);
        }
        else out += genericBody(obj, now);
        out += section('Events', eventsTable(events, now));
        process.stdout.write(out);
      } finally {
        cluster.close();
      }
    });
}
