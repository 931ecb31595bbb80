import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { ChallengeSlots, type ChallengeKind } from '../../operator/src/controllers/providernode/challenge-slots.js';
import { CHALLENGE_SLOT_RETRY_MS, planProviderNode, reattestationOverdueAt } from '../../operator/src/controllers/providernode/plan.js';

/** Slots on a clock the test moves; `woken` lists the nodes handed a slot, in order. */
function slots(limit: number, reserve: number, holdMs = 30_000) {
  let clock = 1_000_000;
  const woken: string[] = [];
  const s = new ChallengeSlots({ limit, reservePerKind: reserve, holdMs, wake: (n) => woken.push(n), now: () => clock });
  return { s, woken, advance: (ms: number) => { clock += ms; } };
}

test('at most limit challenges are outstanding; the rest wait and are handed freed slots in the order they asked', (t) => {
  const { s, woken } = slots(3, 0);
  t.true(s.acquire('a', 'admission'));
  t.true(s.acquire('b', 'admission'));
  t.true(s.acquire('c', 'admission'));
  t.false(s.acquire('d', 'admission'));
  t.false(s.acquire('e', 'admission'));
  t.false(s.acquire('d', 'admission'), 'asking again keeps its place, not a second one');
  t.is(s.outstanding, 3);
  t.is(s.queued, 2);
  s.release('b');
  t.deepEqual(woken, ['d'], 'the longest-waiting node is woken first');
  t.is(s.outstanding, 3, 'the freed slot is already held in the woken node\'s name');
  t.false(s.acquire('x', 'admission'), 'a newcomer cannot take the slot handed to d');
  t.true(s.acquire('d', 'admission'), 'd finds its slot when its reconcile comes');
  s.stop();
});

test('each kind holds at most limit - reservePerKind: a cold start cannot starve re-attestations, nor a wave of re-attestations the admissions', (t) => {
  const { s, woken } = slots(4, 1);
  for (const n of ['a', 'b', 'c']) t.true(s.acquire(n, 'admission'));
  t.false(s.acquire('new', 'admission'), 'the fourth slot is not for a fourth admission');
  t.true(s.acquire('old', 'reattestation'), 'a re-attestation gets it');
  t.false(s.acquire('old2', 'reattestation'), 'and waits once every slot is held');
  s.release('a');
  t.deepEqual(woken, ['new'], 'the longest-waiting node whose kind fits is served first');
  s.stop();

  const wave = slots(4, 1);
  for (const n of ['r1', 'r2', 'r3']) t.true(wave.s.acquire(n, 'reattestation'));
  t.false(wave.s.acquire('r4', 'reattestation'), 're-attestations hold at most three of four');
  t.true(wave.s.acquire('fresh', 'admission'), 'so an admission still finds a slot during a wave of re-checks');
  wave.s.release('r1');
  t.deepEqual(wave.woken, ['r4']);
  wave.s.stop();
});

test('a challenge without a verdict gives its slot back after holdMs, so silent attesters cannot hold every slot', async (t) => {
  const { s, woken, advance } = slots(2, 0, 30_000);
  t.true(s.acquire('dead-1', 'admission'));
  t.true(s.acquire('dead-2', 'admission'));
  t.false(s.acquire('live', 'admission'));
  advance(29_999);
  t.false(s.acquire('live', 'admission'), 'still held just before holdMs');
  advance(1);
  t.true(s.acquire('live', 'admission'), 'free at holdMs');
  t.deepEqual(woken, [], 'the node that asked took the freed slot itself');
  s.stop();
});

test('expired holds are freed by the timer alone and the waiting node is woken without any event', async (t) => {
  const woken: string[] = [];
  const s = new ChallengeSlots({ limit: 1, reservePerKind: 0, holdMs: 40, wake: (n) => woken.push(n) });
  t.true(s.acquire('dead', 'admission'));
  t.false(s.acquire('waiting', 'admission'));
  await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(woken, ['waiting']);
  s.stop();
});

test('releasing a waiting node takes it out of the queue; limit 0 means no bound', (t) => {
  const { s, woken } = slots(1, 0);
  t.true(s.acquire('a', 'admission'));
  t.false(s.acquire('gone', 'admission'));
  s.release('gone');
  t.is(s.queued, 0);
  s.release('a');
  t.deepEqual(woken, [], 'a node that left the queue is not woken');
  const unbounded = new ChallengeSlots({ limit: 0, reservePerKind: 0, holdMs: 1, wake: () => t.fail() });
  for (let i = 0; i < 1000; i++) t.true(unbounded.acquire(`n${i}`, 'admission'));
  s.stop();
});

test('a reserve per kind above half the limit is refused, naming both', (t) => {
  const err = t.throws(() => new ChallengeSlots({ limit: 4, reservePerKind: 3, holdMs: 1, wake: () => {} }));
  t.regex(err!.message, /reserve per kind .*at most half the limit 4 \(got 3\)/);
});

// --- The plan: a node due a challenge asks for a slot, and without one is not challenged. ---

const now = new Date('2026-11-23T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();

function planWith(status: ProviderNodeStatus | undefined, granted: boolean | ((kind: ChallengeKind, overdue: boolean) => boolean)) {
  const asked: ChallengeKind[] = [];
  const askedOverdue: boolean[] = [];
  const providerNode: ProviderNode = {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', generation: 1 },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
    ...(status ? { status } : {}),
  };
  const plan = planProviderNode({
    providerNode, now, node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 },
    policy: { name: 'default', isDefault: true, found: true }, replicas: [],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 },
    newNonce: () => 'f'.repeat(64),
    acquireChallengeSlot: (kind, overdue) => {
      asked.push(kind);
      askedOverdue.push(overdue);
      return typeof granted === 'function' ? granted(kind, overdue) : granted;
    },
  });
  return { plan, asked, askedOverdue };
}

test('without a slot a new node gets no challenge, stays not attested, says it waits, and looks again later', (t) => {
  const { plan, asked } = planWith(undefined, false);
  t.deepEqual(asked, ['admission']);
  t.is(plan.status.attestation, undefined);
  t.true(plan.waitingForChallengeSlot);
  const attested = plan.status.conditions!.find((c) => c.type === 'Attested')!;
  t.is(attested.status, 'False');
  t.regex(attested.message, /waiting for a challenge.*maxOutstandingChallenges/);
  t.true(plan.marks.unattestedTaint);
  t.is(plan.requeueAfterMs, CHALLENGE_SLOT_RETRY_MS + 50);
});

test('with a slot the node is challenged; a pending valid challenge needs no slot; a re-check of a verified node asks for a re-attestation slot', (t) => {
  const granted = planWith(undefined, true);
  t.is(granted.plan.status.attestation?.challenge?.nonce, 'f'.repeat(64));
  t.falsy(granted.plan.waitingForChallengeSlot);

  const pending = planWith({ attestation: { challenge: { nonce: 'a'.repeat(64), issuedAt: iso(-10), expiresAt: iso(290) } } }, false);
  t.deepEqual(pending.asked, [], 'keeping a valid challenge does not ask');
  t.is(pending.plan.status.attestation?.challenge?.nonce, 'a'.repeat(64));

  const due: ProviderNodeStatus = {
    attestation: { verifiedAt: iso(-3601), expiresAt: iso(200), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) },
    conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-3601), observedGeneration: 1 }],
  };
  const recheck = planWith(due, false);
  t.deepEqual(recheck.asked, ['reattestation']);
  t.is(recheck.plan.status.attestation, undefined, 'no challenge while it waits');
  t.is(recheck.plan.status.conditions!.find((c) => c.type === 'Attested')!.status, 'True', 'waiting for a slot does not take a valid attestation away');
});

test('an overdue re-attestation takes a slot beyond the bound; one that is not overdue waits', (t) => {
  const { s: slotsFull } = slots(2, 0);
  t.true(slotsFull.acquire('a', 'reattestation'));
  t.true(slotsFull.acquire('b', 'reattestation'));
  t.false(slotsFull.acquire('c', 'reattestation'), 'every slot is held: a re-check that can wait, waits');
  t.true(slotsFull.acquire('c', 'reattestation', true), 'the same re-check once overdue is challenged now');
  t.is(slotsFull.outstanding, 3, 'and holds a slot beyond the bound until its verdict');
  t.is(slotsFull.queued, 0);
  t.false(slotsFull.acquire('d', 'admission'), 'the bound still holds for everyone else');
  slotsFull.stop();
});

test('a verified node is not left to lapse for want of a slot: its re-check waits at most half the challenge lifetime before its expiry', (t) => {
  const verified = (expiresInS: number): ProviderNodeStatus => ({
    attestation: { verifiedAt: iso(-3601), expiresAt: iso(expiresInS), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) },
    conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-3601), observedGeneration: 1 }],
  });
  // Each case asks slots that other nodes' challenges hold, all of them.
  const fullSlots: ChallengeSlots[] = [];
  const grantFromFullSlots = () => {
    const { s: full } = slots(1, 0);
    t.true(full.acquire('other', 'reattestation'));
    fullSlots.push(full);
    return (kind: ChallengeKind, overdue: boolean) => full.acquire('gpu-1', kind, overdue);
  };

  // 200 s before expiry with a 300 s lifetime: 50 s of waiting are left.
  const early = planWith(verified(200), grantFromFullSlots());
  t.deepEqual(early.askedOverdue, [false]);
  t.is(early.plan.status.attestation?.challenge, undefined, 'it waits for a slot');
  t.true(early.plan.waitingForChallengeSlot);
  t.is(reattestationOverdueAt(Date.parse(iso(200)), 300), now.getTime() + 50_000);
  t.true(early.plan.requeueAfterMs! <= 50_000 + 50, 'and is looked at again when it becomes overdue, not after the 120 s retry');

  // 100 s before expiry: overdue, challenged now though no slot is free.
  const late = planWith(verified(100), grantFromFullSlots());
  t.deepEqual(late.askedOverdue, [true]);
  t.is(late.plan.status.attestation?.challenge?.nonce, 'f'.repeat(64));
  t.falsy(late.plan.waitingForChallengeSlot);
  t.is(late.plan.status.conditions!.find((c) => c.type === 'Attested')!.status, 'True');

  // A first admission is never overdue: it has no attestation to lose.
  const first = planWith(undefined, grantFromFullSlots());
  t.deepEqual(first.askedOverdue, [false]);
  t.is(first.plan.status.attestation, undefined);
  for (const full of fullSlots) full.stop();
});
