// What a policy leaves open is said out loud: unconstrainedChecks names every check any value passes
// (what `chrysalis attest verify` reports), and allowsAnyImage flags a policy without an image allow list
// (the AttestationPolicy's AllowsAnyImage condition).
import test from 'ava';
import { allowsAnyImage, DEFAULT_POLICY, parsePolicy, unconstrainedChecks } from '../../operator/src/attestation/policy.js';

test('with no policy every check that a policy could constrain is reported open, except debug and migration (forbidden by default)', (t) => {
  t.deepEqual(unconstrainedChecks(DEFAULT_POLICY), ['measurement', 'imageHash', 'hostData', 'tcb', 'vmpl', 'smt', 'gpuDriver', 'gpuVbios', 'gpuCcMode', 'evidenceAge']);
  t.deepEqual(unconstrainedChecks(DEFAULT_POLICY, 'nvidia-gpu'), ['gpuDriver', 'gpuVbios', 'gpuCcMode', 'evidenceAge']);
  t.deepEqual(unconstrainedChecks(DEFAULT_POLICY, 'tdx'), ['measurement', 'imageHash', 'tcb', 'evidenceAge']);
});

test('a strict policy leaves nothing open', (t) => {
  const strict = parsePolicy({
    allowedMeasurements: ['ab'.repeat(48)], allowedImageHashes: ['cd'.repeat(32)], allowedHostData: ['ef'.repeat(32)],
    minimumTcb: { snp: 8 }, allowedVmpls: [0], smtAllowed: false,
    gpu: { driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.04'], ccModeRequired: true }, maxEvidenceAgeSeconds: 300,
  });
  t.deepEqual(unconstrainedChecks(strict), []);
});

test('a minimum TCB of all zeros constrains nothing, and debugAllowed opens the debug check', (t) => {
  const p = parsePolicy({ minimumTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, debugAllowed: true, migrationAgentAllowed: true });
  t.true(unconstrainedChecks(p).includes('tcb'));
  t.true(unconstrainedChecks(p).includes('debug'));
  t.true(unconstrainedChecks(p).includes('migrationAgent'));
});

test('a policy without a measurement or image allow list allows any image; an empty list allows none', (t) => {
  t.true(allowsAnyImage({}));
  t.true(allowsAnyImage(undefined));
  t.false(allowsAnyImage({ allowedMeasurements: ['ab'.repeat(48)] }));
  t.false(allowsAnyImage({ allowedImageHashes: ['cd'.repeat(32)] }));
  t.false(allowsAnyImage({ allowedImageHashes: [] }));
});
