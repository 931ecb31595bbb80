// An AttestationPolicy with no measurement or image allow list admits any guest image on genuine
// hardware, e.g. one a host built to read models and prompts. Its own status says so, loudly:
// AllowsAnyImage=True with a message naming the fix, a Warning event once, and the nodes that use it.
import test from 'ava';
import type { AttestationPolicy, AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { planPolicyStatus } from '../../operator/src/controllers/attestationpolicy/plan.js';

const now = new Date('2026-11-23T12:00:00Z');
const policy = (spec: AttestationPolicySpec, status?: AttestationPolicy['status']): AttestationPolicy => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: 'default', generation: 2 }, spec, ...(status ? { status } : {}),
});
const anyImage = (p: ReturnType<typeof planPolicyStatus>) => p.status.conditions?.find((c) => c.type === 'AllowsAnyImage');

test('a policy that would attest a host-built image (no allow list) is flagged AllowsAnyImage with a warning event', (t) => {
  const p = planPolicyStatus({ policy: policy({ maxEvidenceAgeSeconds: 300 }), nodes: 12, now });
  t.is(anyImage(p)?.status, 'True');
  t.is(anyImage(p)?.reason, 'NoImageAllowList');
  t.regex(anyImage(p)?.message ?? '', /^WARNING: AttestationPolicy "default" has no allowedMeasurements or allowedImageHashes/);
  t.regex(anyImage(p)?.message ?? '', /12 ProviderNode\(s\) use it/);
  t.regex(anyImage(p)?.message ?? '', /set spec\.allowedImageHashes or spec\.allowedMeasurements/);
  t.is(p.status.nodes, 12);
  t.is(p.status.observedGeneration, 2);
  t.deepEqual(p.events.map((e) => [e.type, e.reason]), [['Warning', 'AllowsAnyImage']]);
});

test('the warning event is recorded once, and an unchanged policy plans an identical status', (t) => {
  const first = planPolicyStatus({ policy: policy({}), nodes: 1, now });
  const second = planPolicyStatus({ policy: policy({}, first.status), nodes: 1, now });
  t.deepEqual(second.events, []);
  t.deepEqual(second.status, first.status);
});

test('a policy with an image allow list is not flagged', (t) => {
  for (const spec of [{ allowedImageHashes: ['ab'.repeat(32)] }, { allowedMeasurements: ['cd'.repeat(48)] }, { allowedImageHashes: [] }]) {
    const p = planPolicyStatus({ policy: policy(spec), nodes: 0, now });
    t.is(anyImage(p)?.status, 'False');
    t.deepEqual(p.events, []);
  }
});

test('pinning images after the warning clears it', (t) => {
  const flagged = planPolicyStatus({ policy: policy({}), nodes: 3, now });
  const pinned = planPolicyStatus({ policy: policy({ allowedImageHashes: ['ab'.repeat(32)] }, flagged.status), nodes: 3, now });
  t.is(anyImage(pinned)?.status, 'False');
  t.is(anyImage(pinned)?.reason, 'ImageAllowListSet');
});
