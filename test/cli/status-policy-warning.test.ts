// `chrysalis status` cannot be read without seeing that the nodes are verified against a policy that
// admits any guest image: a WARNING line right under Health, and the warnings in the JSON. The exit code
// stays 0 for an otherwise healthy fleet (see status.ts for why it is a warning, not unhealthy).
import test from 'ava';
import type { AttestationPolicy, ProviderNode } from '../../operator/src/api/index.js';
import { statusScreen, summarize } from '../../cli/src/commands/status.js';

const node = (name: string, policy: string, attested = true): ProviderNode => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
  spec: { nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'a'.repeat(64)}`, policyRef: { name: policy } },
  status: { conditions: [attested
    ? { type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2026-11-23T12:00:00Z' }
    : { type: 'Attested', status: 'False', reason: 'PolicyNotFound', message: 'spec.policyRef.name "strcit" names no AttestationPolicy', lastTransitionTime: '2026-11-23T12:00:00Z' }] },
});
const policy = (name: string, spec: AttestationPolicy['spec']): AttestationPolicy => ({ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name }, spec });
const now = new Date('2026-11-23T12:05:00Z');

test('a policy in use that would attest any image, the host\'s own included, is a warning on the second line', (t) => {
  const s = summarize([], [node('gpu-0', 'default'), node('gpu-1', 'default'), node('gpu-2', 'pinned')], [], now, [
    policy('default', { maxEvidenceAgeSeconds: 300 }),
    policy('pinned', { allowedImageHashes: ['ab'.repeat(32)] }),
    policy('unused', {}),
  ]);
  t.true(s.healthy, 'a warning does not make the fleet unhealthy (exit code unchanged)');
  t.deepEqual(s.warnings.map((w) => [w.policy, w.reason, w.nodes]), [['default', 'AllowsAnyImage', 2]]);
  const lines = statusScreen(s).split('\n');
  t.regex(lines[0]!, /^Health:\s+OK, 1 warning$/);
  t.regex(lines[1]!, /^WARNING:\s+AllowsAnyImage: AttestationPolicy "default" allows ANY guest image \(no allowedMeasurements or allowedImageHashes\) on 2 node\(s\): set spec\.allowedImageHashes or spec\.allowedMeasurements$/);
});

test('a fleet whose policies pin their images shows no warning', (t) => {
  const s = summarize([], [node('gpu-0', 'pinned')], [], now, [policy('pinned', { allowedMeasurements: ['cd'.repeat(48)] })]);
  t.deepEqual(s.warnings, []);
  t.regex(statusScreen(s).split('\n')[0]!, /^Health:\s+OK$/);
});

test('a node whose policy does not exist is listed as not usable because of PolicyNotFound', (t) => {
  const lost = node('gpu-9', 'strcit', false);
  lost.status!.attestation = { lastFailure: { code: 'NONCE_MISMATCH', message: 'old', at: '2026-11-23T11:00:00Z' } };
  const s = summarize([], [lost], [], now, []);
  t.deepEqual(s.nodes.problems, [{ node: 'gpu-9', state: 'not attested', reason: 'PolicyNotFound' }]);
});
