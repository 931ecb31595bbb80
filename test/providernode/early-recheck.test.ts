// Re-checks ahead of a node's schedule. On request (annotation chrysalis.dev/reattest-requested-at,
// `chrysalis reattest`): the plan challenges the node once per new value, records the value it answered,
// and never lets the request change what the node's evidence earned. On suspicion: a replica's evidence
// that failed on state the host shares with it (status.attestation.replicaFailure, written by the
// attestation service) gets the host challenged now.
import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { controllerStatusOf, planProviderNode } from '../../operator/src/controllers/providernode/plan.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../operator/src/marks.js';

const now = new Date('2026-11-23T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();
const NONCE = '1'.padStart(64, '0');

function plan(status: ProviderNodeStatus | undefined, request?: string, o: { slot?: boolean; policyFound?: boolean } = {}) {
  let nonces = 0;
  const providerNode: ProviderNode = {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name: 'gpu-1', generation: 3, ...(request !== undefined ? { annotations: { [ANNOTATION_REATTEST_REQUEST]: request } } : {}) },
    spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
    status,
  };
  return planProviderNode({
    providerNode, now,
    node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 },
    policy: { name: 'default', isDefault: true, found: o.policyFound ?? true },
    replicas: [],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 },
    newNonce: () => `${++nonces}`.padStart(64, '0'),
    acquireChallengeSlot: () => o.slot ?? true,
  });
}

/** Verified a minute ago, so its next scheduled re-check is far off; `extra` goes into status.attestation. */
function attested(extra: Partial<NonNullable<ProviderNodeStatus['attestation']>> = {}): ProviderNodeStatus {
  const status: ProviderNodeStatus = {
    attestation: { verifiedAt: iso(-60), expiresAt: iso(3600), gpus: Array.from({ length: 8 }, (_, index) => ({ index })), ...extra },
  };
  // The controller's own fields as it last applied them (conditions, capacity), so only the request can change anything.
  const settled = planProviderNode({
    providerNode: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', generation: 3 }, spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) }, status },
    now, node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 }, policy: { name: 'default', isDefault: true, found: true }, replicas: [],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 }, newNonce: () => 'x',
  });
  return { ...status, ...settled.status, attestation: status.attestation };
}
const attestedCondition = (p: ReturnType<typeof plan>) => p.status.conditions?.find((c) => c.type === 'Attested');

test('without a request an attested node between re-checks gets no challenge', (t) => {
  const p = plan(attested());
  t.is(p.status.attestation, undefined);
  t.deepEqual(p.events, []);
});

test('a new request challenges an attested node now, records the value it answered, and the node stays attested', (t) => {
  const p = plan(attested(), '2026-11-23T11:59:58Z');
  t.is(p.status.attestation?.challenge?.nonce, NONCE);
  t.is(p.status.attestation?.challenge?.issuedAt, now.toISOString());
  t.is(p.status.attestation?.reattestRequest, '2026-11-23T11:59:58Z');
  t.is(attestedCondition(p)?.status, 'True', 'a request does not take away what the last evidence earned');
  t.true(p.marks.attestedLabel);
  t.deepEqual(p.events.map((e) => e.reason), ['ReattestRequested']);
});

test('a request already answered asks for nothing more, and the recorded value is kept in every apply', (t) => {
  const before = attested({ reattestRequest: 'r1' });
  const p = plan(before, 'r1');
  t.is(p.status.attestation?.challenge, undefined, 'no second challenge for the same value');
  t.is(p.status.attestation?.reattestRequest, 'r1', 'left out, the apply would remove it and the request would be answered again');
  t.deepEqual(p.events, []);
  t.deepEqual(p.status, controllerStatusOf(before), 'nothing to write');
  // The annotation removed: the record stays (removing it would change nothing the controller decides).
  t.is(plan(before).status.attestation?.reattestRequest, 'r1');
});

test('a new value after an answered one is answered too', (t) => {
  const p = plan(attested({ reattestRequest: 'r1' }), 'r2');
  t.is(p.status.attestation?.challenge?.nonce, NONCE);
  t.is(p.status.attestation?.reattestRequest, 'r2');
});

test('a challenge pending from before the request is replaced by a new nonce', (t) => {
  const older = { nonce: 'f'.repeat(64), issuedAt: iso(-30), expiresAt: iso(270) };
  const p = plan(attested({ challenge: older }), 'r1');
  t.is(p.status.attestation?.challenge?.nonce, NONCE);
  t.is(p.status.attestation?.reattestRequest, 'r1');
  // Once answered, the challenge that answers it is kept, not replaced at every plan.
  const again = plan(attested({ challenge: p.status.attestation!.challenge, reattestRequest: 'r1' }), 'r1');
  t.deepEqual(again.status.attestation?.challenge, p.status.attestation?.challenge);
});

test('without a free challenge slot the request waits, unrecorded, and is answered when a slot comes', (t) => {
  const p = plan(attested(), 'r1', { slot: false });
  t.is(p.status.attestation?.challenge, undefined);
  t.is(p.status.attestation?.reattestRequest, undefined);
  t.true(p.waitingForChallengeSlot);
  t.deepEqual(p.events, []);
  t.is(attestedCondition(p)?.status, 'True');
});

test('with the node\'s policy missing no challenge is issued and the request stays unanswered', (t) => {
  const p = plan(attested(), 'r1', { policyFound: false });
  t.is(p.status.attestation?.challenge, undefined);
  t.is(p.status.attestation?.reattestRequest, undefined);
  t.is(attestedCondition(p)?.status, 'False', 'still not attested without its policy');
});

test('a value longer than the status field holds is recorded as its SHA-256, and answered once', (t) => {
  const long = 'x'.repeat(500);
  const p = plan(attested(), long);
  t.regex(p.status.attestation!.reattestRequest!, /^sha256:[0-9a-f]{64}$/);
  t.is(plan(attested({ reattestRequest: p.status.attestation!.reattestRequest }), long).status.attestation?.challenge, undefined);
});

test('a node never verified is challenged as before, and the request is recorded with that challenge', (t) => {
  const p = plan(undefined, 'r1');
  t.is(p.status.attestation?.challenge?.nonce, NONCE);
  t.is(p.status.attestation?.reattestRequest, 'r1');
  t.is(attestedCondition(p)?.reason, 'AwaitingEvidence');
});

test('the challenge answering a request is kept until judged, replaced if it lapses unanswered, and dropped once evidence newer than it passed', (t) => {
  const answering = { nonce: 'e'.repeat(64), issuedAt: iso(-20), expiresAt: iso(280) };
  t.deepEqual(plan(attested({ challenge: answering, reattestRequest: 'r1' }), 'r1').status.attestation?.challenge, answering);
  const lapsed = { nonce: 'e'.repeat(64), issuedAt: iso(-400), expiresAt: iso(-100) };
  const verifiedLongAgo = attested({ challenge: lapsed, reattestRequest: 'r1', verifiedAt: iso(-900) });
  t.is(plan(verifiedLongAgo, 'r1').status.attestation?.challenge?.nonce, NONCE);
  // Verified after the challenge was issued (the service consumed it; a copy may still show it): no challenge.
  t.is(plan(attested({ challenge: { ...answering, issuedAt: iso(-90) }, reattestRequest: 'r1' }), 'r1').status.attestation?.challenge, undefined);
});

test('a replica that failed on state the host shares since the host was verified gets the host challenged now, beyond the slot bound, with a HostSuspect event', (t) => {
  const failure = { pod: 'ml/llama-0', code: 'GPU_CC_DISABLED', at: iso(-5) };
  const overdueAsked: boolean[] = [];
  const p = planProviderNode({
    providerNode: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', generation: 3 }, spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) }, status: attested({ replicaFailure: failure }) },
    now, node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 }, policy: { name: 'default', isDefault: true, found: true }, replicas: [],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 }, newNonce: () => NONCE,
    acquireChallengeSlot: (_kind, overdue) => { overdueAsked.push(overdue); return overdue; },
  });
  t.is(p.status.attestation?.challenge?.nonce, NONCE);
  t.deepEqual(overdueAsked, [true], 'a suspect host does not wait for a slot');
  t.is(attestedCondition(p)?.status, 'True', 'suspect is not a verdict: the host\'s own evidence decides');
  t.deepEqual(p.events.map((e) => e.reason), ['HostSuspect']);
  t.regex(p.events[0]!.message, /ml\/llama-0.*GPU_CC_DISABLED/);
  // While its challenge is pending the host stays challenged, without a second event.
  const pending = plan(attested({ replicaFailure: failure, challenge: p.status.attestation!.challenge }));
  t.deepEqual(pending.status.attestation?.challenge, p.status.attestation?.challenge);
  t.deepEqual(pending.events, []);
});

test('a replica failure older than the host\'s last verification asks for nothing', (t) => {
  const p = plan(attested({ replicaFailure: { pod: 'ml/llama-0', code: 'GPU_CC_DISABLED', at: iso(-120) } }));
  t.is(p.status.attestation, undefined);
  t.deepEqual(p.events, []);
});
