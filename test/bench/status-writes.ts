// `npm run bench -- status-writes [--quick] [--objects N] [--rounds N] [--replicas R]`: what one
// ProviderNode status write costs kube-apiserver, with the status lists as the CRD declares them (ours)
// against the same lists keyed (x-kubernetes-list-type: map), as they were declared before (the baseline).
//
// Both kinds are served side by side by one local kube-apiserver: the repository's ProviderNode CRD
// under two API groups, one as it is and one with the keyed lists. Each holds N objects (default 500,
// --quick 100) shaped like a host with 8 GPUs and R replicas (default 4) in the chaos bench, and a round
// writes every object's status three times, as its three writers do: the attestation service's verdict
// (merge patch: the GPU records, the replicas' keys), metering's fold (merge patch: usage, its payees,
// one cursor per replica), the controller's conditions and allocation (server-side apply), each under its
// own field manager and conditioned on the resourceVersion before it. Rounds alternate between the two
// kinds (after one unmeasured round of each), and each is timed by kube-apiserver's and etcd's own CPU
// (/proc/<pid>/stat). The figure is kube-apiserver CPU-milliseconds per write, median over the rounds.
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { providerNodeCrdVariant } from '../providernode/_keyed-lists.js';
import { inBatches } from '../inferencepool/kube-fixtures.js';
import { numberFlag as flag } from './_flags.js';
import { cpuSecondsOf } from './_process-cpu.js';
import { percentile } from './_stats.js';
import type { BenchOptions, BenchResult } from './run.js';

const log = (line: string) => process.stdout.write(`${line}\n`);
const median = (values: readonly number[]) => percentile([...values].sort((a, b) => a - b), 50);
const GPUS = 8;
const IN_FLIGHT = 16;

const hex = (n: number, seed: number) => Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 16).toString(16)).join('');
const iso = (ms: number) => new Date(ms).toISOString();

/** The three writers' bodies for object `i` in write round `round`: what each changes on a re-attestation and a fold. */
function bodies(name: string, i: number, round: number, replicas: number) {
  const now = Date.now();
  const pods = Array.from({ length: replicas }, (_, r) => ({ pod: `pool-${i}-${r}`, uid: `${hex(8, i + r)}-${hex(4, r)}-${hex(4, i)}-${hex(4, r + 1)}-${hex(12, i + 2)}` }));
  const service = { status: {
    attestation: {
      verifiedAt: iso(now), expiresAt: iso(now + 900_000), publicKey: hex(64, round), chipId: hex(128, i), measurement: hex(96, i), imageHash: hex(64, i), simulated: true,
      tcb: { bootloader: 3, microcode: 115, snp: 8, tee: 0 },
      gpus: Array.from({ length: GPUS }, (_, g) => ({ index: g, model: 'H100', ccMode: 'on', deviceId: hex(40, i + g).toUpperCase(), driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' })),
    },
    attestedReplicas: pods.map((p) => ({ namespace: 'chrysalis-chaos', pod: p.pod, uid: p.uid, publicKey: hex(64, i + round), expiresAt: iso(now + 900_000) })),
    replicaChallenges: [],
  } };
  const payee = `0:${hex(64, i)}`;
  const units = String(1000 * (round + 1));
  const metering = { status: {
    usage: [{ account: 'chrysalis-chaos/sandbox', units, promptTokens: units, generationTokens: units, gpuSeconds: String(round), payees: [{ payee, units }] }],
    usageCursors: pods.map((p) => ({
      pod: `chrysalis-chaos/${p.pod}`, podUid: p.uid, bootId: `${hex(8, i)}-${hex(4, 1)}-${hex(4, 2)}-${hex(4, 3)}-${hex(12, 4)}`, sequence: round + 1,
      account: 'chrysalis-chaos/sandbox', pool: `chrysalis-chaos/pool-${i}`, publicKey: hex(64, i + round), at: iso(now).replace(/\.\d{3}Z$/, 'Z'),
      promptTokens: units, generationTokens: units, gpuSeconds: '0', units,
    })),
  } };
  const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, observedGeneration: 1, lastTransitionTime: iso(now - 60_000).replace(/\.\d{3}Z$/, 'Z') });
  const controller = { kind: 'ProviderNode', metadata: { name }, status: {
    observedGeneration: 1,
    conditions: [
      condition('Attested', 'True', 'Verified', 'evidence verified against AttestationPolicy "default", re-checked every 600 s (times: status.attestation.verifiedAt, expiresAt)'),
      condition('Quarantined', 'False', 'Healthy', 'no quarantine'),
      condition('Schedulable', 'True', 'Ready', 'attested, Node Ready, GPUs advertised'),
    ],
    capacity: { gpus: GPUS },
    // What changes between the controller's writes: a replica placed or gone.
    allocated: { gpus: round % 2 === 0 ? replicas : replicas - 1 },
  } };
  return { service, metering, controller };
}

export default async function statusWrites(options: BenchOptions): Promise<BenchResult> {
  const objects = flag(options.args, '--objects', options.quick ? 100 : 500);
  const rounds = flag(options.args, '--rounds', options.quick ? 2 : 3);
  const replicas = flag(options.args, '--replicas', 4);
  log(`status-writes bench: ${objects} ProviderNodes per kind, ${replicas} replicas and ${GPUS} GPUs each, ${rounds} measured rounds per kind, 3 writes per object per round`);
  const plane = await startControlPlane({ controllerManager: false, scheduler: false, kwok: false });
  const rest = new RestClient(plane.kubeConfig(), { qps: 5000, burst: 5000, userAgent: 'status-writes-bench' });
  try {
    const kinds = [{ label: 'keyed (before)', group: 'keyed.bench.chrysalis.dev', keyed: true }, { label: 'atomic (ours)', group: 'atomic.bench.chrysalis.dev', keyed: false }];
    for (const k of kinds) {
      const crd = providerNodeCrdVariant(k.group, k.keyed);
      await rest.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
    }
    for (const k of kinds) {
      for (let established = false; !established; await new Promise((r) => setTimeout(r, 200))) {
        const crd = await rest.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/providernodes.${k.group}`);
        established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      }
    }
    const path = (group: string, name?: string, sub?: string) => `/apis/${group}/v1alpha1/providernodes${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;
    const names = Array.from({ length: objects }, (_, i) => `host-${i}`);
    const rv = new Map<string, string>();
    for (const k of kinds) {
      await inBatches(names, IN_FLIGHT, async (name) => {
        const created = await rest.request<{ metadata: { resourceVersion: string } }>('POST', path(k.group), { body: {
          apiVersion: `${k.group}/v1alpha1`, kind: 'ProviderNode', metadata: { name },
          spec: { nodeName: name, tee: 'simulated', gpus: { model: 'H100', count: GPUS, ccMode: 'on' }, payoutAddress: `0:${hex(64, 1)}`, priceCoefficient: 1000, policyRef: { name: 'default' } },
        } });
        rv.set(`${k.group}/${name}`, created.metadata.resourceVersion);
      });
    }

    const pids = plane.pids();
    const apiserverPid = pids['kube-apiserver']!;
    const etcdPid = pids.etcd!;
    /** One round: every object's three writes, in its writers' order, each conditioned on the version before it. */
    const round = async (group: string, n: number) => {
      await inBatches(names, IN_FLIGHT, async (name) => {
        const i = Number(name.slice(5));
        const b = bodies(name, i, n, replicas);
        const key = `${group}/${name}`;
        const merge = async (manager: string, body: { status: unknown }) => {
          const written = await rest.request<{ metadata: { resourceVersion: string } }>('PATCH', path(group, name, 'status'), {
            contentType: 'application/merge-patch+json', query: { fieldManager: manager },
            body: { metadata: { resourceVersion: rv.get(key) }, ...body },
          });
          rv.set(key, written.metadata.resourceVersion);
        };
        await merge('chrysalis-attestation-service', b.service);
        await merge('chrysalis-metering', b.metering);
        const applied = await rest.request<{ metadata: { resourceVersion: string } }>('PATCH', path(group, name, 'status'), {
          contentType: 'application/apply-patch+yaml', query: { fieldManager: 'chrysalis-operator', force: 'true' },
          body: { apiVersion: `${group}/v1alpha1`, ...b.controller, metadata: { name, resourceVersion: rv.get(key) } },
        });
        rv.set(key, applied.metadata.resourceVersion);
      });
    };
    const perWrite: Record<string, number[]> = {};
    const etcdPerWrite: Record<string, number[]> = {};
    for (const k of kinds) await round(k.group, 0); // unmeasured: every object gets its full status once
    for (let r = 1; r <= rounds; r++) {
      for (const k of kinds) {
        const a0 = cpuSecondsOf(apiserverPid), e0 = cpuSecondsOf(etcdPid), t0 = performance.now();
        await round(k.group, r);
        const seconds = (performance.now() - t0) / 1000;
        const writes = objects * 3;
        const apiMs = ((cpuSecondsOf(apiserverPid) - a0) * 1000) / writes;
        const etcdMs = ((cpuSecondsOf(etcdPid) - e0) * 1000) / writes;
        (perWrite[k.label] ??= []).push(apiMs);
        (etcdPerWrite[k.label] ??= []).push(etcdMs);
        log(`  round ${r}, ${k.label}: ${writes} writes in ${seconds.toFixed(1)} s (${(writes / seconds).toFixed(0)} a second); kube-apiserver ${apiMs.toFixed(2)} CPU-ms per write, etcd ${etcdMs.toFixed(2)}`);
      }
    }
    const sizes: Record<string, { objectBytes: number; managedFieldsBytes: number }> = {};
    for (const k of kinds) {
      const o = await rest.request<{ metadata: { managedFields?: unknown[] } }>('GET', path(k.group, names[0]));
      sizes[k.label] = { objectBytes: JSON.stringify(o).length, managedFieldsBytes: JSON.stringify(o.metadata.managedFields ?? []).length };
      log(`  ${k.label}: one object is ${sizes[k.label]!.objectBytes} bytes as JSON, ${sizes[k.label]!.managedFieldsBytes} of them managedFields`);
    }
    const ours = median(perWrite['atomic (ours)']!);
    const baseline = median(perWrite['keyed (before)']!);
    log(`kube-apiserver CPU per status write, median of ${rounds} rounds: ours ${ours.toFixed(2)} ms, keyed lists ${baseline.toFixed(2)} ms, ratio ${(ours / baseline).toFixed(2)}; etcd ${median(etcdPerWrite['atomic (ours)']!).toFixed(2)} vs ${median(etcdPerWrite['keyed (before)']!).toFixed(2)} ms`);
    const round2 = (v: number) => Math.round(v * 100) / 100;
    return {
      bench: 'status-writes', metric: 'kube-apiserver CPU-ms per ProviderNode status write (lower is better)', unit: 'ms',
      ours: round2(ours), baseline: round2(baseline), ratio: round2(ours / baseline),
      params: {
        objects, rounds, replicas, gpus: GPUS, writesPerRound: objects * 3,
        oursRoundsMs: perWrite['atomic (ours)']!.map(round2), baselineRoundsMs: perWrite['keyed (before)']!.map(round2),
        etcdMs: { ours: round2(median(etcdPerWrite['atomic (ours)']!)), baseline: round2(median(etcdPerWrite['keyed (before)']!)) }, sizes,
      },
    };
  } finally {
    rest.close();
    await plane.stop();
  }
}
