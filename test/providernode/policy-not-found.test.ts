// A ProviderNode whose policyRef names no AttestationPolicy (a typo, a deleted policy, no "default"
// installed) must not be attested against "no constraints": it is not attested, says which ref is
// wrong and how to fix it, and gets no challenge until the policy exists.
import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/providernode.js';
import { planProviderNode, type ObservedPolicy } from '../../operator/src/controllers/providernode/plan.js';

const now = new Date('2026-11-23T12:00:00Z');
const iso = (offsetS: number) => new Date(now.getTime() + offsetS * 1000).toISOString();
const eightGpus = Array.from({ length: 8 }, (_, index) => ({ index }));
const misspelt: ObservedPolicy = { name: 'strcit', isDefault: false, found: false };

function plan(status: ProviderNodeStatus | undefined, policy: ObservedPolicy) {
  let nonces = 0;
  return planProviderNode({
    providerNode: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
      metadata: { name: 'gpu-1', generation: 1 },
      spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64), policyRef: { name: policy.name } },
      ...(status ? { status } : {}),
    } as ProviderNode,
    node: { exists: true, ready: true, cordonedByOthers: false, allocatableGpus: 8 },
    policy,
    replicas: [{ namespace: 'ml', name: 'llama-0', uid: 'u0', gpus: 2, terminating: false }],
    timing: { reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300, challengeTtlSeconds: 300 },
    now,
    newNonce: () => `${++nonces}`.padStart(64, '0'),
  });
}
const attested = (p: ReturnType<typeof plan>) => p.status.conditions?.find((c) => c.type === 'Attested');

test('a node whose policyRef is misspelt gets no challenge, so no evidence can be verified against an empty policy', (t) => {
  const p = plan(undefined, misspelt);
  t.is(p.status.attestation?.challenge, undefined);
  t.is(attested(p)?.status, 'False');
  t.is(attested(p)?.reason, 'PolicyNotFound');
  t.regex(attested(p)?.message ?? '', /spec\.policyRef\.name "strcit" names no AttestationPolicy/);
  t.regex(attested(p)?.message ?? '', /kubectl get attestationpolicies/);
  t.true(p.marks.unattestedTaint);
  t.false(p.marks.attestedLabel);
  t.deepEqual(p.events.map((e) => [e.type, e.reason]), [['Warning', 'PolicyNotFound']]);
});

test('a verdict recorded for a node whose policy does not exist does not make it attested or schedulable', (t) => {
  const p = plan({ attestation: { verifiedAt: iso(-5), expiresAt: iso(3000), gpus: eightGpus } }, misspelt);
  t.is(attested(p)?.reason, 'PolicyNotFound');
  t.is(p.status.conditions?.find((c) => c.type === 'Schedulable')?.status, 'False');
  t.false(p.marks.attestedLabel);
  t.true(p.marks.unattestedTaint);
});

test('deleting the default policy takes the attestation away and withdraws a pending challenge', (t) => {
  const status: ProviderNodeStatus = {
    attestation: { verifiedAt: iso(-3700), expiresAt: iso(200), gpus: eightGpus, challenge: { nonce: 'f'.repeat(64), issuedAt: iso(-10), expiresAt: iso(290) } },
    conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: iso(-3700) }],
  };
  const p = plan(status, { name: 'default', isDefault: true, found: false });
  t.is(attested(p)?.status, 'False');
  t.regex(attested(p)?.message ?? '', /the default AttestationPolicy "default" \(spec\.policyRef\.name\) does not exist/);
  t.is(p.status.attestation?.challenge, undefined, 'no pending challenge left for an attester to answer');
  t.deepEqual(p.events.map((e) => e.reason), ['PolicyNotFound']);
});

test('the PolicyNotFound warning is recorded once, not on every reconcile', (t) => {
  const first = plan(undefined, misspelt);
  const second = plan(first.status, misspelt);
  t.deepEqual(second.events, []);
  t.deepEqual(second.status, first.status);
});

test('once the policy exists the node is challenged and can be attested', (t) => {
  const missing = plan(undefined, misspelt);
  const found = plan(missing.status, { ...misspelt, found: true });
  t.is(found.status.attestation?.challenge?.nonce, '1'.padStart(64, '0'));
  t.is(attested(found)?.reason, 'AwaitingEvidence');
  const verified = plan({ ...found.status, attestation: { ...found.status.attestation, verifiedAt: iso(0), expiresAt: iso(3600), gpus: eightGpus } }, { ...misspelt, found: true });
  t.is(attested(verified)?.status, 'True');
});
