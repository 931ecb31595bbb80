// Replacing replicas built for an earlier spec (the plan's rollout rules, plan.ts): surge first, one at a
// time, never fewer ready replicas than desired while outdated ones serve, no churn when nothing changed,
// and the status that says so.
import test from 'ava';
import { isReady, DEFAULT_MAX_SURGE, planReplicas, poolStatus, type ReplicaObservation, type ReplicaPlan } from '../../operator/src/controllers/inferencepool/plan.js';
import type { Unplaced } from '../../operator/src/placement/index.js';
import { MODEL_HASH, NOW, pool, replica, TEMPLATE_HASH } from './builders.js';

const OLD = 'e0ld0e0ld0e0ld00';
const healthy = () => 'ok' as const;
const outdated = (index: number, overrides: Partial<ReplicaObservation> = {}) => replica(index, { templateHash: OLD, ...overrides });
const notReady = { gate: undefined, podReady: false } as const;
/** A ready replica of the current spec that routing selects (the routing label follows readiness). */
const routed = (index: number, overrides: Partial<ReplicaObservation> = {}) => replica(index, { attestedLabel: true, ...overrides });
const plan = (replicas: number, observed: ReplicaObservation[]) => planReplicas(pool('llama', replicas), observed, healthy, NOW);
const deletes = (p: ReplicaPlan) => p.deletes.map((d) => [d.name, d.reason]);
const condition = (s: ReturnType<typeof poolStatus>, type: string) => s.conditions?.find((c) => c.type === type);
const statusOf = (replicas: number, observed: ReplicaObservation[], unplaced: Unplaced[] = []) => {
  const p = pool('llama', replicas);
  const planned = planReplicas(p, observed, healthy, NOW);
  return poolStatus({ pool: p, plan: planned, replicas: planned.kept, unplaced, providerOf: () => undefined, now: NOW });
};

test('replicas of the current spec: no deletes, no creates, no surge', (t) => {
  const p = plan(2, [replica(0), replica(1)]);
  t.deepEqual(deletes(p), []);
  t.deepEqual(p.creates, []);
  t.is(p.surge, 0);
  t.is(p.templateHash, TEMPLATE_HASH);
});

test('an outdated replica that serves stays, and a surge replica is created beside it', (t) => {
  const p = plan(1, [outdated(0)]);
  t.deepEqual(deletes(p), []);
  t.deepEqual(p.creates, [1]);
  t.is(p.surge, 1);
  t.deepEqual(p.kept.map((r) => r.name), ['llama-0']);
});

test('while the surge replica is not ready, the outdated one stays and nothing more is created', (t) => {
  for (const surge of [replica(1, notReady), replica(1, { podReady: false }), replica(1, { modelCheck: { state: 'mismatch', expected: MODEL_HASH, computed: 'f'.repeat(64) } })]) {
    const p = plan(1, [outdated(0), surge]);
    t.deepEqual(deletes(p), []);
    t.deepEqual(p.creates, []);
  }
});

test('once the surge replica is ready and routed, the outdated one is deleted, and nothing is created', (t) => {
  const p = plan(1, [outdated(0), routed(1)]);
  t.deepEqual(deletes(p), [['llama-0', 'Outdated']]);
  t.is(p.deletes[0]?.wasReady, true);
  t.deepEqual(p.creates, []);
  t.deepEqual(p.kept.map((r) => r.name), ['llama-1']);
});

test('a surge replica ready but not yet routed keeps the outdated one: the Service never lacks both', (t) => {
  const p = plan(1, [outdated(0), replica(1, { attestedLabel: false })]);
  t.deepEqual(deletes(p), []);
  t.deepEqual(p.creates, []);
});

test('one at a time: of several outdated replicas, one surge replica at once', (t) => {
  t.deepEqual(plan(3, [outdated(0), outdated(1), outdated(2)]).creates, [3]);
  // The first replacement ready: one outdated goes (the highest index) and the next replacement starts.
  const p = plan(3, [outdated(0), outdated(1), outdated(2), routed(3)]);
  t.deepEqual(deletes(p), [['llama-2', 'Outdated']]);
  t.deepEqual(p.creates, [4]);
});

test('an outdated replica that serves nothing is deleted at once and replaced, without a surge', (t) => {
  const failed = outdated(0, { modelCheck: { state: 'mismatch', expected: 'a'.repeat(64), computed: 'b'.repeat(64) }, podReady: false });
  const p = plan(2, [failed, outdated(1, { node: undefined, ...notReady })]);
  t.deepEqual(deletes(p), [['llama-1', 'Outdated'], ['llama-0', 'Outdated']]);
  t.false(p.deletes.some((d) => d.wasReady));
  t.deepEqual(p.creates, [2, 3]);
  t.is(p.surge, 0);
});

test('a replica without the label (made before it existed) is outdated', (t) => {
  const p = plan(1, [replica(0, { templateHash: undefined })]);
  t.deepEqual(p.creates, [1]);
  t.deepEqual(deletes(plan(1, [replica(0, { templateHash: undefined }), routed(1)])), [['llama-0', 'Outdated']]);
});

test('scaling down while updating: surplus current replicas go, outdated ones that still carry the floor stay', (t) => {
  // Desired 1: the current replica is not ready yet, so the outdated ready one keeps serving.
  const p = plan(1, [outdated(0), replica(1, notReady), replica(2, notReady)]);
  t.deepEqual(deletes(p), [['llama-2', 'ScaleDown']]);
  t.deepEqual(p.kept.map((r) => r.name), ['llama-0', 'llama-1']);
  t.deepEqual(p.creates, []);
});

test('the same view gives the same plan, and the view after acting on it asks for nothing more', (t) => {
  const view = [outdated(0), outdated(1)];
  t.deepEqual(plan(2, view), plan(2, view));
  const first = plan(2, view);
  const after = [...view, ...first.creates.map((i) => replica(i, { uid: '', ...notReady }))];
  const second = plan(2, after);
  t.deepEqual(deletes(second), []);
  t.deepEqual(second.creates, []);
});

// A whole rollout, step by step: each step acts on the plan (deletes go, creates appear unready), then
// every replica created in an earlier step becomes ready (and is routed the step after). At no step may
// fewer than desired − maxUnavailable replicas be ready, nor more than desired + maxSurge be live.
const rollouts = [
  { maxSurge: DEFAULT_MAX_SURGE, maxUnavailable: 0 },
  { maxSurge: 2, maxUnavailable: 0 },
  { maxSurge: 0, maxUnavailable: 1 },
  { maxSurge: 1, maxUnavailable: 1 },
];
for (const desired of [1, 2, 5]) {
  for (const rollout of rollouts) {
    const floor = Math.max(0, desired - rollout.maxUnavailable);
    test(`a rollout of ${desired} ready replicas with maxSurge ${rollout.maxSurge}, maxUnavailable ${rollout.maxUnavailable} never goes below ${floor} ready nor above ${desired + rollout.maxSurge} live, and ends with all current`, (t) => {
      const p0 = pool('llama', desired, { rollout });
      let view: ReplicaObservation[] = Array.from({ length: desired }, (_, i) => outdated(i));
      for (let step = 0; step < 10 * desired + 5; step++) {
        const p = planReplicas(p0, view, healthy, NOW);
        const gone = new Set(p.deletes.map((d) => d.name));
        view = view.filter((r) => !gone.has(r.name));
        t.true(view.filter((r) => isReady(r, NOW)).length >= floor, `step ${step}: ready below ${floor}`);
        view = [...view.map((r) => (r.templateHash !== TEMPLATE_HASH ? r : isReady(r, NOW) ? routed(r.index) : replica(r.index))), ...p.creates.map((i) => replica(i, notReady))];
        t.true(view.length <= desired + rollout.maxSurge, `step ${step}: ${view.length} live`);
        if (p.deletes.length === 0 && p.creates.length === 0 && view.every((r) => r.templateHash === TEMPLATE_HASH && isReady(r, NOW))) break;
      }
      t.is(view.length, desired);
      t.true(view.every((r) => r.templateHash === TEMPLATE_HASH && isReady(r, NOW)));
    });
  }
}

test('status while updating: Progressing ModelChanged, Ready only for the current spec, ModelVerified only from current replicas', (t) => {
  const s = statusOf(1, [outdated(0, { modelCheck: { state: 'verified', hash: 'a'.repeat(64) } }), replica(1, { ...notReady, modelCheck: { state: 'pending' } })]);
  t.like(condition(s, 'Progressing'), { status: 'True', reason: 'ModelChanged' });
  t.regex(condition(s, 'Progressing')?.message ?? '', /replacing 1 replica built for an earlier spec\.model, spec\.runtime or spec\.gpusPerReplica, one at a time/);
  t.like(condition(s, 'Ready'), { status: 'False', reason: 'ReplicasNotReady' });
  t.regex(condition(s, 'Ready')?.message ?? '', /^0 of 1 replicas attested and ready; 1 more built for an earlier spec still serve/);
  t.like(condition(s, 'ModelVerified'), { status: 'Unknown', reason: 'AwaitingModelCheck' });
  t.is(s.replicas?.ready, 1, 'the outdated replica still serves and is counted');
});

test('status once the update is done: Ready, Stable, the current model verified', (t) => {
  const s = statusOf(1, [replica(1, { modelCheck: { state: 'verified', hash: MODEL_HASH } })]);
  t.like(condition(s, 'Ready'), { status: 'True', reason: 'ReplicasReady' });
  t.like(condition(s, 'Progressing'), { status: 'False', reason: 'Stable' });
  t.like(condition(s, 'ModelVerified'), { status: 'True', reason: 'HashMatches' });
});

test('a surge replica with no free GPUs: the status says so, the pool is not Degraded, nothing is deleted', (t) => {
  const unplaced: Unplaced[] = [{ pool: 'team/llama', replicaId: 'llama-1', gpus: 1, reason: 'InsufficientGpus', message: 'no attested node has 1 free GPU' }];
  const p = pool('llama', 1);
  const planned = planReplicas(p, [outdated(0)], healthy, NOW);
  t.deepEqual(deletes(planned), []);
  const s = poolStatus({ pool: p, plan: planned, replicas: planned.kept, unplaced, providerOf: () => undefined, now: NOW });
  t.like(condition(s, 'Progressing'), { status: 'False', reason: 'WaitingForCapacity' });
  t.regex(condition(s, 'Progressing')?.message ?? '', /the update to the current spec waits for attested capacity: 1 new replica of 1 GPUs could not be placed; 1 replica built for an earlier .* keep serving .*: no attested node has 1 free GPU$/);
  t.like(condition(s, 'Degraded'), { status: 'False' });
});

test('spec.rollout.maxSurge 2 starts two replacements at once', (t) => {
  const p = planReplicas(pool('llama', 3, { rollout: { maxSurge: 2, maxUnavailable: 0 } }), [outdated(0), outdated(1), outdated(2)], healthy, NOW);
  t.deepEqual(p.creates, [3, 4]);
  t.deepEqual(deletes(p), []);
});

test('spec.rollout.maxUnavailable 1 deletes a serving outdated replica first, so an update proceeds without free GPUs', (t) => {
  const p = planReplicas(pool('llama', 2, { rollout: { maxSurge: 0, maxUnavailable: 1 } }), [outdated(0), outdated(1)], healthy, NOW);
  t.deepEqual(deletes(p), [['llama-1', 'Outdated']]);
  t.deepEqual(p.creates, [2]);
  t.is(p.surge, 0);
  // The replacement not serving yet: the other outdated replica stays (one fewer than desired at most).
  const next = planReplicas(pool('llama', 2, { rollout: { maxSurge: 0, maxUnavailable: 1 } }), [outdated(0), replica(2, notReady)], healthy, NOW);
  t.deepEqual(deletes(next), []);
  t.deepEqual(next.creates, []);
});
