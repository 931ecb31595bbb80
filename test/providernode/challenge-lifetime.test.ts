// A node's challenge lives no longer than the evidence age its policy allows. Before, it lived the
// operator's challengeTtlSeconds (300 s) whatever the policy said; in the chaos bench (re-attestation
// every 60 s, evidence age 48 s) the node attesters could not answer while kube-apiserver restarted,
// then answered the still-pending nonces 103–122 s after their issue: EVIDENCE_TOO_OLD three times, and
// healthy nodes were quarantined with their replicas evicted.
import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { planProviderNode, policyTiming, type PolicyTiming } from '../../operator/src/controllers/providernode/plan.js';
import { challengeLapsesAt, challengeLifetimeSeconds } from '../../operator/src/attestation/challenge-lifetime.js';

const now = new Date('2026-12-04T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();
const eightGpus = Array.from({ length: 8 }, (_, index) => ({ index }));

let nonces = 0;
function plan(status: ProviderNodeStatus | undefined, timing: PolicyTiming, at = now) {
  return planProviderNode({
    providerNode: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', generation: 1 },
      spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
      ...(status ? { status } : {}),
    } as ProviderNode,
    node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 },
    policy: { name: 'default', isDefault: true, found: true },
    replicas: [],
    timing,
    now: at,
    newNonce: () => `${++nonces}`.padStart(64, 'b'),
  });
}

test('the challenge lifetime is the operator TTL capped by the policy evidence age', (t) => {
  t.is(challengeLifetimeSeconds(300, { maxEvidenceAgeSeconds: 48 }), 48);
  t.is(challengeLifetimeSeconds(300, { maxEvidenceAgeSeconds: 900 }), 300);
  t.is(challengeLifetimeSeconds(300, {}), 300);
  t.is(challengeLifetimeSeconds(300, undefined), 300);
  t.deepEqual(policyTiming({ reattestIntervalSeconds: 60, quarantineGraceSeconds: 20, maxEvidenceAgeSeconds: 48 }, 300), { reattestIntervalSeconds: 60, quarantineGraceSeconds: 20, challengeTtlSeconds: 48 });
  t.deepEqual(policyTiming(undefined, 300), { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 });
});

test('a node challenge under a 48 s evidence age expires after 48 s, and an unanswered one is replaced by a fresh nonce then', (t) => {
  const timing = policyTiming({ reattestIntervalSeconds: 60, quarantineGraceSeconds: 20, maxEvidenceAgeSeconds: 48 }, 300);
  // Verified 61 s ago: re-attestation is due.
  const verified: ProviderNodeStatus = {
    attestation: { verifiedAt: iso(-61), expiresAt: iso(299), gpus: eightGpus },
    conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-61) }],
  };
  const issued = plan(verified, timing);
  const challenge = issued.status.attestation?.challenge;
  t.is(challenge?.issuedAt, iso(0));
  t.is(challenge?.expiresAt, iso(48));
  t.true((issued.requeueAfterMs ?? Infinity) <= 48_100, 'the controller looks again when it lapses');

  // Unanswered (the attester could not reach the service): at 48 s it is replaced, so the attester's
  // next answer is to a nonce it can still answer in time.
  const later = new Date(now.getTime() + 48_000);
  const replaced = plan({ ...verified, attestation: { ...verified.attestation, challenge: challenge! } }, timing, later);
  t.not(replaced.status.attestation?.challenge?.nonce, challenge?.nonce);
  t.is(replaced.status.attestation?.challenge?.expiresAt, new Date(later.getTime() + 48_000).toISOString());
});

test('a pending node challenge older than a lowered evidence age is replaced even though its expiresAt is ahead', (t) => {
  // Issued under the 300 s TTL, 60 s ago; the policy now allows 48 s of evidence age.
  const status: ProviderNodeStatus = { attestation: { challenge: { nonce: 'c'.repeat(64), issuedAt: iso(-60), expiresAt: iso(240) } } };
  const p = plan(status, policyTiming({ maxEvidenceAgeSeconds: 48 }, 300));
  t.not(p.status.attestation?.challenge?.nonce, 'c'.repeat(64));
  t.is(p.status.attestation?.challenge?.expiresAt, iso(48));
  // One issued 10 s ago is kept.
  const young: ProviderNodeStatus = { attestation: { challenge: { nonce: 'd'.repeat(64), issuedAt: iso(-10), expiresAt: iso(290) } } };
  const kept = plan(young, policyTiming({ maxEvidenceAgeSeconds: 48 }, 300));
  t.is(kept.status.attestation?.challenge?.nonce, 'd'.repeat(64));
  t.true((kept.requeueAfterMs ?? Infinity) <= 38_100, 'looked at again when it outlives 48 s, not at its expiresAt');
});

test('a challenge without a recorded issue time is judged by its expiresAt alone', (t) => {
  const expiresAt = iso(240);
  t.is(challengeLapsesAt({ expiresAt }, 48), Date.parse(expiresAt));
  t.is(challengeLapsesAt({ issuedAt: 'not a time', expiresAt }, 48), Date.parse(expiresAt));
  t.is(challengeLapsesAt({ issuedAt: iso(-48), expiresAt }, 48), now.getTime(), 'issued 48 s ago under a 48 s lifetime: lapsed now');
  t.is(challengeLapsesAt({ issuedAt: iso(-47), expiresAt }, 48), now.getTime() + 1000);
  t.true(Number.isNaN(challengeLapsesAt({ issuedAt: iso(-10), expiresAt: 'not a time' }, 48)), 'an unreadable expiry is never answerable');
});
