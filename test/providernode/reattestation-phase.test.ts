// Re-checks on each node's own phase of the interval (plan.ts reattestationDueAt): never later than one
// interval after a verification, exactly one interval apart once on the phase, and a fleet admitted at
// once spread over the interval instead of coming due together.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { planProviderNode, reattestationDueAt } from '../../operator/src/controllers/providernode/plan.js';

const INTERVAL_S = 300;
const INTERVAL_MS = INTERVAL_S * 1000;
const admittedAt = Date.parse('2026-12-05T12:00:00Z');
const names = Array.from({ length: 2000 }, (_, i) => `chaos-${i}`);

test('the next re-check comes after the verification and no later than one interval after it', (t) => {
  for (const [i, name] of names.entries()) {
    const verifiedAt = admittedAt + i * 37;
    const due = reattestationDueAt(verifiedAt, INTERVAL_S, name);
    t.true(due > verifiedAt && due <= verifiedAt + INTERVAL_MS, `${name}: due ${due - verifiedAt} ms after its verification`);
  }
});

test('once a node is re-checked on its phase, each later re-check comes exactly one interval after the one before', (t) => {
  for (const name of names.slice(0, 200)) {
    let due = reattestationDueAt(admittedAt, INTERVAL_S, name);
    for (const latencyMs of [0, 1, 2_500, 60_000, INTERVAL_MS - 1]) {
      const next = reattestationDueAt(due + latencyMs, INTERVAL_S, name);
      t.is(next - due, INTERVAL_MS, `${name}, verified ${latencyMs} ms after its due time`);
      due = next;
    }
  }
});

test('a fleet verified within the same 10 s comes due spread over the interval, not together', (t) => {
  const buckets = new Array<number>(10).fill(0);
  for (const [i, name] of names.entries()) {
    const verifiedAt = admittedAt + (i % 10_000);
    const due = reattestationDueAt(verifiedAt, INTERVAL_S, name);
    buckets[Math.min(9, Math.floor(((due - admittedAt) / INTERVAL_MS) * 10))]! += 1;
  }
  // 200 expected in each tenth of the interval; due one interval after each verification, all 2,000 fell in the last.
  for (const [i, n] of buckets.entries()) t.true(n >= 150 && n <= 250, `tenth ${i}: ${n} nodes due (${buckets.join(', ')})`);
});

test('the plan issues the re-check at the node\'s due time, not before, and looks again then', (t) => {
  const name = 'gpu-7';
  const verifiedAt = admittedAt;
  const due = reattestationDueAt(verifiedAt, INTERVAL_S, name);
  const plan = (nowMs: number) => planProviderNode({
    providerNode: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name, generation: 1 },
      spec: { nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
      status: {
        attestation: { verifiedAt: new Date(verifiedAt).toISOString(), expiresAt: new Date(verifiedAt + INTERVAL_MS + 120_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) },
        conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: new Date(verifiedAt).toISOString(), observedGeneration: 1 }],
      },
    } as ProviderNode,
    node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 },
    policy: { name: 'default', isDefault: true, found: true },
    replicas: [],
    timing: { reattestIntervalSeconds: INTERVAL_S, quarantineGraceSeconds: 60, challengeTtlSeconds: 120 },
    now: new Date(nowMs),
    newNonce: () => 'c'.repeat(64),
  });
  const before = plan(due - 1_000);
  t.is(before.status.attestation?.challenge, undefined, 'challenged before its due time');
  t.true(before.requeueAfterMs! >= 1_000 && before.requeueAfterMs! <= 1_100, `looks again in ${before.requeueAfterMs} ms`);
  t.is(plan(due).status.attestation?.challenge?.nonce, 'c'.repeat(64));
});
