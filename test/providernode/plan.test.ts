import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { planProviderNode, type ObservedNode } from '../../operator/src/controllers/providernode/plan.js';

const now = new Date('2026-11-23T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();
const healthyNode: ObservedNode = { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 };

function pn(status?: ProviderNodeStatus, cordoned = false): ProviderNode {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name: 'gpu-1', generation: 3 },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64), cordoned },
    status,
  };
}

function plan(status?: ProviderNodeStatus, node: ObservedNode = healthyNode, cordoned = false) {
  let nonces = 0;
  return planProviderNode({
    providerNode: pn(status, cordoned), node, now,
    policy: { name: 'default', isDefault: true, found: true },
    replicas: [{ namespace: 'ml', name: 'llama-0', uid: 'u0', gpus: 2, terminating: false }],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 },
    newNonce: () => `${++nonces}`.padStart(64, '0'),
  });
}
const cond = (p: ReturnType<typeof plan>, type: string) => p.status.conditions?.find((c) => c.type === type);
const attestedStatus = (verifiedAgoS: number, expiresInS: number, extra: Partial<ProviderNodeStatus> = {}): ProviderNodeStatus => ({
  attestation: { verifiedAt: iso(-verifiedAgoS), expiresAt: iso(expiresInS), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) },
  conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-verifiedAgoS), observedGeneration: 3 }],
  ...extra,
});

test('a new node gets a challenge, stays tainted and unschedulable, and is told what is awaited', (t) => {
  const p = plan();
  t.is(p.status.attestation?.challenge?.nonce, '1'.padStart(64, '0'));
  t.is(p.status.attestation?.challenge?.expiresAt, iso(300));
  t.is(cond(p, 'Attested')?.status, 'False');
  t.is(cond(p, 'Attested')?.reason, 'AwaitingEvidence');
  t.is(cond(p, 'Schedulable')?.status, 'False');
  t.deepEqual(p.marks, { attestedLabel: false, unattestedTaint: true, cordon: false, tee: 'sev-snp', gpuModel: 'H100' });
  t.is(p.status.capacity?.gpus, 8);
  t.is(p.status.allocated?.gpus, 2);
  t.deepEqual(p.evict, []);
  t.true(p.requeueAfterMs! > 0 && p.requeueAfterMs! <= 300_050);
});

test('an unexpired challenge is kept rather than replaced', (t) => {
  const challenge = { nonce: 'f'.repeat(64), issuedAt: iso(-10), expiresAt: iso(290) };
  t.deepEqual(plan({ attestation: { challenge } }).status.attestation?.challenge, challenge);
});

test('an expired challenge is replaced by a fresh nonce', (t) => {
  const challenge = { nonce: 'f'.repeat(64), issuedAt: iso(-400), expiresAt: iso(-100) };
  t.is(plan({ attestation: { challenge } }).status.attestation?.challenge?.nonce, '1'.padStart(64, '0'));
});

test('verified evidence makes the node attested, untainted, labelled and schedulable, with an Attested event', (t) => {
  const p = plan({ attestation: { verifiedAt: iso(-5), expiresAt: iso(3000), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } });
  t.is(cond(p, 'Attested')?.status, 'True');
  t.is(cond(p, 'Schedulable')?.status, 'True');
  t.is(cond(p, 'Quarantined')?.status, 'False');
  t.true(p.marks.attestedLabel);
  t.false(p.marks.unattestedTaint);
  t.is(p.status.attestation?.challenge, undefined);
  t.deepEqual(p.events.map((e) => e.reason), ['Attested']);
});

test('planning an attested node twice gives the same status and no new events', (t) => {
  const observed = attestedStatus(5, 3000);
  const first = plan(observed);
  // What the apiserver holds after the controller's apply: the service's verdict beside the plan's fields.
  const second = plan({ ...observed, ...first.status, attestation: { ...observed.attestation, ...first.status.attestation } });
  t.deepEqual(second.status, first.status);
  t.deepEqual(second.events, []);
});

test('a passing re-attestation leaves the controller nothing to write: its conditions do not name the verdict\'s time', (t) => {
  // Attested an hour ago; the controller's status as it applied it then.
  const before = attestedStatus(3605, 5);
  const applied = plan(before).status;
  const held = { ...before, ...applied, attestation: { ...before.attestation, ...applied.attestation } };
  // The service's verdict on the re-attestation moves verifiedAt and expiresAt (and consumes the challenge).
  const renewed = { ...held, attestation: { ...held.attestation, challenge: undefined, verifiedAt: iso(-1), expiresAt: iso(3599) } };
  const after = plan(renewed);
  t.deepEqual(after.status.conditions, applied.conditions);
  t.is(after.status.attestation, undefined);
  t.deepEqual(after.events, []);
  // The times are still told where a transition is: the Attested event of a first verification.
  const first = plan({ attestation: { verifiedAt: iso(-5), expiresAt: iso(3000), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } });
  t.is(first.events[0]?.message, `evidence verified at ${iso(-5)}, valid until ${iso(3000)}`);
});

test('a re-attestation falls due on the policy interval and issues a challenge while staying attested', (t) => {
  const p = plan(attestedStatus(3700, 100));
  t.is(cond(p, 'Attested')?.status, 'True');
  t.truthy(p.status.attestation?.challenge?.nonce);
});

test('rejected first evidence keeps the node unattested with the reason code and a warning', (t) => {
  const p = plan({ attestation: { lastFailure: { code: 'NONCE_MISMATCH', message: 'report_data does not match', at: iso(-1) } } });
  t.is(cond(p, 'Attested')?.reason, 'EvidenceRejected');
  t.regex(cond(p, 'Attested')?.message ?? '', /NONCE_MISMATCH/);
  t.is(cond(p, 'Quarantined')?.status, 'False');
  t.deepEqual(p.events.map((e) => e.reason), ['EvidenceRejected']);
});

test('failed re-attestation quarantines: cordon, taint, evict replicas, keep the reason', (t) => {
  const p = plan(attestedStatus(100, 3000, { attestation: { verifiedAt: iso(-100), expiresAt: iso(3000), lastFailure: { code: 'SIGNATURE_INVALID', message: 'bad', at: iso(-1) } } }));
  t.is(cond(p, 'Quarantined')?.status, 'True');
  t.is(cond(p, 'Quarantined')?.reason, 'ReattestationFailed');
  t.is(p.status.quarantine?.reason, 'ReattestationFailed');
  t.true(p.marks.cordon);
  t.true(p.marks.unattestedTaint);
  t.deepEqual(p.evict.map((r) => r.name), ['llama-0']);
  t.true(p.events.some((e) => e.reason === 'Quarantined'));
});

test('expired attestation is not attested at once and is quarantined only after the grace period', (t) => {
  const inGrace = plan(attestedStatus(4000, -100));
  t.is(cond(inGrace, 'Attested')?.status, 'False');
  t.is(cond(inGrace, 'Quarantined')?.status, 'False');
  t.deepEqual(inGrace.evict, []);
  const afterGrace = plan(attestedStatus(4000, -400));
  t.is(cond(afterGrace, 'Quarantined')?.reason, 'AttestationExpired');
  t.is(afterGrace.evict.length, 1);
});

test('a node whose GPU count changed after attestation is quarantined', (t) => {
  const p = plan(attestedStatus(5, 3000), { ...healthyNode, allocatableGpus: 7 });
  t.is(cond(p, 'Quarantined')?.reason, 'GpuStateChanged');
  t.false(p.marks.attestedLabel);
});

test('a quarantined node recovers when fresh evidence passes', (t) => {
  const quarantined = plan(attestedStatus(100, 3000, { attestation: { verifiedAt: iso(-100), expiresAt: iso(3000), gpus: Array.from({ length: 8 }, (_, index) => ({ index })), lastFailure: { code: 'SIGNATURE_INVALID', message: 'bad', at: iso(-50) } } }));
  const recovered = plan({ ...quarantined.status, attestation: { ...quarantined.status.attestation, verifiedAt: iso(-1), expiresAt: iso(3600) } });
  t.is(cond(recovered, 'Quarantined')?.status, 'False');
  t.is(cond(recovered, 'Quarantined')?.reason, 'Recovered');
  t.is(cond(recovered, 'Attested')?.status, 'True');
  t.false(recovered.marks.cordon);
  t.true(recovered.events.some((e) => e.reason === 'Recovered'));
});

test('a cordoned ProviderNode is attested but not schedulable', (t) => {
  const p = plan(attestedStatus(5, 3000), healthyNode, true);
  t.is(cond(p, 'Attested')?.status, 'True');
  t.is(cond(p, 'Schedulable')?.reason, 'Cordoned');
});

test('a missing Node makes the ProviderNode unschedulable with zero capacity', (t) => {
  const p = plan(undefined, { exists: false, ready: false, cordonedByOthers: false, allocatableGpus: 0 });
  t.is(cond(p, 'Schedulable')?.reason, 'NodeMissing');
  t.is(p.status.capacity?.gpus, 0);
});
