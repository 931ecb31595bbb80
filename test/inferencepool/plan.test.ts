// The InferencePool plan as tables: given observed replicas, node health and the time, what to delete,
// create, bind and un-gate, and what status to show.
import test from 'ava';
import {
  planReplicas,
  poolStatus,
  type NodeHealth,
  type ReplicaObservation,
} from '../../operator/src/controllers/inferencepool/plan.js';
import type { Unplaced } from '../../operator/src/placement/index.js';
import { NOW, pool, replica } from './builders.js';

const healthy = (): NodeHealth => 'ok';

interface Row {
  title: string;
  replicas: number;
  observed: ReplicaObservation[];
  health?: Record<string, NodeHealth>;
  deletes: Array<[string, string]>;
  creates: number[];
  binds?: string[];
  flips?: Array<[string, string]>;
  requeueAfterMs?: number;
}

const rows: Row[] = [
  { title: 'an empty pool of three creates indexes 0, 1 and 2', replicas: 3, observed: [], deletes: [], creates: [0, 1, 2] },
  { title: 'a pool at its size with healthy ready replicas does nothing and looks again at the earliest expiry', replicas: 2, observed: [replica(0), replica(1, { attestationExpires: new Date('2025-01-01T01:30:00Z') })], deletes: [], creates: [], requeueAfterMs: 30 * 60_000 },
  { title: 'a missing middle index is filled first', replicas: 3, observed: [replica(0), replica(2)], deletes: [], creates: [1] },
  {
    title: 'scale down removes the highest ready indexes when all are equally useful',
    replicas: 2, observed: [replica(0), replica(1), replica(2), replica(3)],
    deletes: [['llama-3', 'ScaleDown'], ['llama-2', 'ScaleDown']], creates: [],
  },
  {
    title: 'scale down removes unbound and unattested replicas before ready ones, whatever their index',
    replicas: 2,
    observed: [replica(0, { node: undefined, gate: undefined, podReady: false }), replica(1), replica(2, { gate: undefined }), replica(3)],
    deletes: [['llama-0', 'ScaleDown'], ['llama-2', 'ScaleDown']], creates: [],
  },
  {
    title: 'scale down prefers attested-but-not-ready replicas over ready ones',
    replicas: 1, observed: [replica(0), replica(1, { podReady: false })],
    deletes: [['llama-1', 'ScaleDown']], creates: [],
  },
  {
    title: 'a replica on a node that is gone is deleted and replaced under the lowest free index',
    replicas: 2, observed: [replica(0), replica(1)], health: { 'node-1': 'gone' },
    deletes: [['llama-1', 'NodeLost']], creates: [2],
  },
  {
    title: 'a replica on a quarantined node is deleted and replaced',
    replicas: 2, observed: [replica(0), replica(1)], health: { 'node-0': 'quarantined' },
    deletes: [['llama-0', 'NodeQuarantined']], creates: [2],
  },
  {
    title: 'a terminating replica keeps its name taken and is not counted',
    replicas: 2, observed: [replica(0, { terminating: true }), replica(1)],
    deletes: [], creates: [2],
  },
  {
    title: 'a finished replica is deleted and replaced',
    replicas: 1, observed: [replica(0, { phase: 'Failed' })],
    deletes: [['llama-0', 'ReplicaFinished']], creates: [1],
  },
  {
    title: 'an unbound replica is kept and needs a binding, not a new Pod',
    replicas: 2, observed: [replica(0), replica(1, { node: undefined, gate: undefined, podReady: false })],
    deletes: [], creates: [], binds: ['llama-1'],
  },
  {
    title: 'a gate past its expiry is turned False',
    replicas: 1, observed: [replica(0, { attestationExpires: new Date('2025-01-01T00:59:59Z') })],
    deletes: [], creates: [], flips: [['llama-0', 'AttestationExpired']],
  },
  {
    title: 'a True gate without an expiry is turned False after the grace',
    replicas: 1, observed: [replica(0, { attestationExpires: undefined, gateSince: new Date('2025-01-01T00:59:00Z') })],
    deletes: [], creates: [], flips: [['llama-0', 'AttestationMissing']],
  },
  {
    title: 'a True gate without an expiry within the grace is looked at again when the grace ends',
    replicas: 1, observed: [replica(0, { attestationExpires: undefined, gateSince: new Date('2025-01-01T00:59:50Z') })],
    deletes: [], creates: [], requeueAfterMs: 20_000,
  },
  {
    title: 'a replica being deleted on a lost node is not deleted twice',
    replicas: 1, observed: [replica(0, { terminating: true })], health: { 'node-0': 'gone' },
    deletes: [], creates: [1],
  },
];

for (const row of rows) {
  test(row.title, (t) => {
    const health = (node: string) => row.health?.[node] ?? healthy();
    const plan = planReplicas(pool('llama', row.replicas), row.observed, health, NOW, 30_000);
    t.deepEqual(plan.deletes.map((d) => [d.name, d.reason]), row.deletes);
    t.deepEqual(plan.creates, row.creates);
    t.deepEqual(plan.binds.map((r) => r.name), row.binds ?? []);
    t.deepEqual(plan.gateFlips.map((f) => [f.name, f.reason]), row.flips ?? []);
    if (row.requeueAfterMs !== undefined) t.is(plan.requeueAfterMs, row.requeueAfterMs);
  });
}

test('desired follows spec.replicas.max', (t) => {
  const plan = planReplicas(pool('llama', 0, { replicas: { min: 1, max: 4 } }), [], healthy, NOW);
  t.is(plan.desired, 4);
  t.deepEqual(plan.creates, [0, 1, 2, 3]);
});

const unplaced = (n: number): Unplaced[] => Array.from({ length: n }, (_, i) => ({
  pool: 'team/llama', replicaId: `llama-${i}`, gpus: 1, reason: 'InsufficientGpus' as const, message: 'needs 1 free GPUs on one node; the 0 eligible nodes have 0 GPUs free in total and at most 0 on any one node',
}));

function statusOf(replicas: number, observed: ReplicaObservation[], missing = 0) {
  const p = pool('llama', replicas);
  const plan = planReplicas(p, observed, healthy, NOW);
  return poolStatus({ pool: p, plan, replicas: plan.kept, unplaced: unplaced(missing), providerOf: (n) => `provider-of-${n}`, now: NOW });
}

const condition = (status: ReturnType<typeof statusOf>, type: string) => status.conditions?.find((c) => c.type === type);

test('status counts placed, attested and ready replicas, each a subset of the one before', (t) => {
  const s = statusOf(4, [
    replica(0),
    replica(1, { podReady: false }),
    replica(2, { gate: undefined }),
    replica(3, { node: undefined, gate: undefined, podReady: false }),
  ]);
  t.deepEqual(s.replicas, { desired: 4, placed: 3, attested: 2, ready: 1 });
  t.is(s.gpus, 3);
  t.deepEqual(s.placements, [
    { pod: 'llama-0', node: 'node-0', provider: 'provider-of-node-0' },
    { pod: 'llama-1', node: 'node-1', provider: 'provider-of-node-1' },
    { pod: 'llama-2', node: 'node-2', provider: 'provider-of-node-2' },
  ]);
  t.is(s.observedGeneration, 3);
});

test('a replica that kwok marked Ready but whose attestation expired is neither attested nor ready', (t) => {
  const s = statusOf(1, [replica(0, { attestationExpires: new Date('2025-01-01T00:00:01Z') })]);
  t.deepEqual(s.replicas, { desired: 1, placed: 1, attested: 0, ready: 0 });
  t.is(condition(s, 'Degraded')?.reason, 'ReplicasUnattested');
  t.is(condition(s, 'Ready')?.status, 'False');
});

test('every desired replica attested and ready makes the pool Ready, not Progressing, not Degraded', (t) => {
  const s = statusOf(2, [replica(0), replica(1)]);
  t.is(condition(s, 'Ready')?.status, 'True');
  t.is(condition(s, 'Progressing')?.status, 'False');
  t.is(condition(s, 'Degraded')?.status, 'False');
});

test('replicas the engine could not place make the pool Degraded with InsufficientAttestedCapacity', (t) => {
  const s = statusOf(3, [replica(0)], 2);
  const degraded = condition(s, 'Degraded');
  t.is(degraded?.status, 'True');
  t.is(degraded?.reason, 'InsufficientAttestedCapacity');
  t.regex(degraded?.message ?? '', /2 of 3 replicas unplaced: 2 InsufficientGpus/);
  t.is(condition(s, 'Progressing')?.reason, 'WaitingForCapacity');
});

test('placed replicas still waiting for their first verdict are Progressing, not Degraded', (t) => {
  const s = statusOf(2, [replica(0), replica(1, { gate: undefined, podReady: false })]);
  t.is(condition(s, 'Progressing')?.reason, 'AwaitingAttestation');
  t.is(condition(s, 'Degraded')?.status, 'False');
  t.is(condition(s, 'Ready')?.status, 'False');
});

test('a status computed twice from the same facts keeps its transition times', (t) => {
  const p = pool('llama', 1);
  const plan = planReplicas(p, [replica(0)], healthy, NOW);
  const first = poolStatus({ pool: p, plan, replicas: plan.kept, unplaced: [], providerOf: () => undefined, now: NOW });
  const later = new Date(NOW.getTime() + 60_000);
  const second = poolStatus({ pool: { ...p, status: first }, plan, replicas: plan.kept, unplaced: [], providerOf: () => undefined, now: later });
  t.deepEqual(second, first);
});

test('a reconcile that created and bound every replica reports what the next one will see, so status is written once', (t) => {
  const p = pool('llama', 2);
  // This reconcile: nothing observed, two creates planned; both created and bound.
  const plan = planReplicas(p, [], healthy, NOW);
  const after = [replica(0, { gate: undefined, podReady: false }), replica(1, { gate: undefined, podReady: false })];
  const acted = poolStatus({ pool: p, plan, replicas: after, unplaced: [], providerOf: () => undefined, now: NOW, pending: { creates: 0, binds: 0, deletes: 0 } });
  t.is(condition(acted, 'Progressing')?.reason, 'AwaitingAttestation');
  // The next reconcile, from caches that show both Pods bound, plans nothing and computes the same status.
  const nextPlan = planReplicas({ ...p, status: acted }, after, healthy, NOW);
  const next = poolStatus({ pool: { ...p, status: acted }, plan: nextPlan, replicas: nextPlan.kept, unplaced: [], providerOf: () => undefined, now: NOW });
  t.deepEqual(next, acted);
});

test('work that did not happen keeps the pool Progressing and says what is left', (t) => {
  const p = pool('llama', 3);
  const plan = planReplicas(p, [], healthy, NOW);
  const s = poolStatus({ pool: p, plan, replicas: [replica(0, { gate: undefined, podReady: false })], unplaced: [], providerOf: () => undefined, now: NOW, pending: { creates: 2, binds: 0, deletes: 0 } });
  t.is(condition(s, 'Progressing')?.reason, 'PlacingReplicas');
  t.is(condition(s, 'Progressing')?.message, 'creating 2 replicas');
  // Without `pending`, the plan's own work is what is in progress (a dry run, before acting).
  t.is(condition(poolStatus({ pool: p, plan, replicas: [], unplaced: [], providerOf: () => undefined, now: NOW }), 'Progressing')?.message, 'creating 3 replicas');
});
