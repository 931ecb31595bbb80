// Mutations of real SEV-SNP evidence: each tampering, swap or policy violation is rejected with its
// specific reason code.
import test from 'ava';
import { verifySevSnp, type SnpEvidence } from '../../operator/src/attestation/sev-snp/verify.js';
import type { VerifyOptions } from '../../operator/src/attestation/options.js';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { certsOf, codes, flipByte, readVector, SNP_TIME } from './vectors.js';

const report = readVector('sev-snp', 'trustee/test-report.bin');
const vcek = certsOf('sev-snp', 'trustee/test-vcek.der');
const run = (e: Partial<SnpEvidence>, o: Partial<VerifyOptions> = {}) =>
  verifySevSnp({ report, certificates: vcek, ...e }, { now: SNP_TIME, ...o });

test('the unmutated report verifies (the baseline the mutations depart from)', (t) => {
  t.deepEqual(run({}).reasons, []);
});

test('flipping any byte of the signed region [0, 0x2A0) is SIGNATURE_INVALID (the version field: MALFORMED_EVIDENCE)', (t) => {
  for (let offset = 0; offset < 0x2a0; offset++) {
    const v = run({ report: flipByte(report, offset) });
    t.false(v.verified);
    // Version 2 → 3 still parses (then fails the signature); 2 → 258 etc. is an unsupported version.
    const expected = offset >= 1 && offset < 4 ? 'MALFORMED_EVIDENCE' : 'SIGNATURE_INVALID';
    if (codes(v)[0] !== expected) t.fail(`offset 0x${offset.toString(16)}: ${JSON.stringify(v.reasons)}`);
  }
  t.pass();
});

test('flipping any byte of the signature r or s is SIGNATURE_INVALID', (t) => {
  for (let offset = 0x2a0; offset < 0x330; offset++) {
    const v = run({ report: flipByte(report, offset) });
    if (codes(v).join() !== 'SIGNATURE_INVALID') t.fail(`offset 0x${offset.toString(16)}: ${JSON.stringify(v.reasons)}`);
  }
  t.pass();
});

test('bytes after the signature are reserved and unsigned, so they do not change the verdict', (t) => {
  t.true(run({ report: flipByte(report, 0x400) }).verified);
});

test('a truncated or extended report is MALFORMED_EVIDENCE', (t) => {
  for (const bytes of [report.subarray(0, 0x49f), report.subarray(0, 0x2a0), new Uint8Array(0), new Uint8Array([...report, 0])]) {
    t.deepEqual(codes(run({ report: bytes })), ['MALFORMED_EVIDENCE']);
  }
});

test('the right nonce passes and a wrong one is NONCE_MISMATCH', (t) => {
  const right = fromHex('ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2');
  t.true(run({}, { nonce: right }).verified);
  t.deepEqual(codes(run({}, { nonce: flipByte(right, 31) })), ['NONCE_MISMATCH']);
  t.deepEqual(codes(run({}, { nonce: new Uint8Array(65) })), ['NONCE_MISMATCH']);
});

test('a public key that report_data does not bind is BINDING_MISMATCH', (t) => {
  const nonce = fromHex('ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2');
  t.deepEqual(codes(run({}, { nonce, publicKey: new Uint8Array(32) })), ['BINDING_MISMATCH']);
  t.deepEqual(codes(run({}, { publicKey: new Uint8Array(32) })), ['BINDING_MISMATCH']);
});

test('a VCEK from another chip is SIGNATURE_INVALID (and CERT_MISMATCH: hwID ≠ chip_id)', (t) => {
  const v = run({ certificates: certsOf('sev-snp', 'virtee-sev/vcek_milan.der') });
  t.is(codes(v)[0], 'SIGNATURE_INVALID');
  t.true(codes(v).includes('CERT_MISMATCH'));
});

test('a VCEK of another generation (Turin) is rejected', (t) => {
  const v = run({ certificates: certsOf('sev-snp', 'virtee-sev/vcek_turin.der') });
  t.is(codes(v)[0], 'SIGNATURE_INVALID');
  t.true(codes(v).includes('CERT_MISMATCH'));
});

test('the right VCEK with another generation\'s ASK/ARK is CHAIN_UNTRUSTED', (t) => {
  for (const bundle of ['ask_ark_genoa', 'ask_ark_turin_vcek']) {
    t.is(codes(run({ chain: certsOf('sev-snp', `go-sev-guest/${bundle}.pem`) }))[0], 'CHAIN_UNTRUSTED');
  }
});

test('a VLEK-signed report presented with a VCEK is rejected, and the VLEK cannot sign a VCEK report', (t) => {
  const vlekReport = readVector('sev-snp', 'trustee/test-vlek-report.bin');
  const a = verifySevSnp({ report: vlekReport, certificates: vcek }, { now: SNP_TIME });
  t.is(codes(a)[0], 'SIGNATURE_INVALID');
  t.true(a.reasons.some((r) => r.code === 'CERT_MISMATCH' && r.message.includes('VLEK')));
  const b = run({ certificates: certsOf('sev-snp', 'trustee/test-vlek.der') });
  t.is(codes(b)[0], 'SIGNATURE_INVALID');
});

test('an explicit chain without the issuing ASK is CHAIN_UNTRUSTED; another generation ARK beside the ASK is ignored', (t) => {
  // ARKs are anchors only by pinned fingerprint: an ARK inside a bundle adds nothing, the pinned one is used.
  const [ask] = certsOf('sev-snp', 'go-sev-guest/ask_ark_milan.pem');
  const [, genoaArk] = certsOf('sev-snp', 'go-sev-guest/ask_ark_genoa.pem');
  t.true(run({ chain: [ask!, genoaArk!] }).verified, 'the pinned ARK is still found among the built-in anchors');
  t.is(codes(run({ chain: [genoaArk!] }))[0], 'CHAIN_UNTRUSTED');
});

test('a VCEK with a flipped byte in its signature is CHAIN_UNTRUSTED', (t) => {
  const der = vcek[0]!;
  const v = run({ certificates: [flipByte(der, der.length - 10)] });
  t.is(codes(v)[0], 'CHAIN_UNTRUSTED');
});

test('after the VCEK expires the report is CERT_EXPIRED; before it was issued, CERT_NOT_YET_VALID', (t) => {
  t.deepEqual(codes(run({}, { now: new Date('2030-02-01T00:00:00Z') })), ['CERT_EXPIRED']);
  t.deepEqual(codes(run({}, { now: new Date('2023-01-01T00:00:00Z') })), ['CERT_NOT_YET_VALID']);
});

test('a minimum TCB above the reported TCB is TCB_TOO_LOW, one at it passes', (t) => {
  t.true(run({}, { policy: { minimumTcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115, guestSvn: 4 } } }).verified);
  t.deepEqual(codes(run({}, { policy: { minimumTcb: { snp: 9 } } })), ['TCB_TOO_LOW']);
  t.deepEqual(codes(run({}, { policy: { minimumTcb: { microcode: 116 } } })), ['TCB_TOO_LOW']);
  t.deepEqual(codes(run({}, { policy: { minimumTcb: { guestSvn: 5 } } })), ['TCB_TOO_LOW']);
});

test('the debug policy: a debuggable guest is DEBUG_ENABLED unless the policy allows debugging', (t) => {
  const debugReport = readVector('sev-snp', 'go-sev-guest/attestation.bin');
  const certificates = certsOf('sev-snp', 'go-sev-guest/vcek.testcer');
  t.deepEqual(codes(verifySevSnp({ report: debugReport, certificates }, { now: SNP_TIME })), ['DEBUG_ENABLED']);
  t.true(verifySevSnp({ report: debugReport, certificates }, { now: SNP_TIME, policy: { debugAllowed: true } }).verified);
});

test('VMPL, SMT and migration-agent policy bits are enforced as GUEST_POLICY_FORBIDDEN', (t) => {
  const vlek = { report: readVector('sev-snp', 'trustee/test-vlek-report.bin'), certificates: certsOf('sev-snp', 'trustee/test-vlek.der') };
  t.deepEqual(codes(verifySevSnp(vlek, { now: SNP_TIME, policy: { allowedVmpls: [0] } })), ['GUEST_POLICY_FORBIDDEN']);
  t.true(verifySevSnp(vlek, { now: SNP_TIME, policy: { allowedVmpls: [0, 1] } }).verified);
  t.deepEqual(codes(run({}, { policy: { smtAllowed: false } })), ['GUEST_POLICY_FORBIDDEN']);
});

test('a measurement or image hash outside the allow lists is MEASUREMENT_NOT_ALLOWED', (t) => {
  const measurement = 'a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c';
  t.true(run({}, { policy: { allowedMeasurements: [measurement.toUpperCase().toLowerCase()] } }).verified);
  t.deepEqual(codes(run({}, { policy: { allowedMeasurements: ['00'.repeat(48)] } })), ['MEASUREMENT_NOT_ALLOWED']);
  const imageHash = run({}).claims.imageHash!;
  t.true(run({}, { policy: { allowedImageHashes: [imageHash] } }).verified);
  t.deepEqual(codes(run({}, { policy: { allowedImageHashes: ['00'.repeat(32)] } })), ['MEASUREMENT_NOT_ALLOWED']);
});

test('evidence age: older than the policy allows, or of unknown age, is EVIDENCE_TOO_OLD', (t) => {
  const policy = { maxEvidenceAgeSeconds: 60 };
  t.true(run({}, { policy, nonceIssuedAt: new Date(SNP_TIME.getTime() - 30_000) }).verified);
  t.deepEqual(codes(run({}, { policy, nonceIssuedAt: new Date(SNP_TIME.getTime() - 120_000) })), ['EVIDENCE_TOO_OLD']);
  t.deepEqual(codes(run({}, { policy })), ['EVIDENCE_TOO_OLD']);
});

test('Azure HCL: editing the runtime claims breaks the report_data binding (BINDING_MISMATCH)', (t) => {
  const hcl = readVector('sev-snp', 'attestation-rs-azure/hcl-report.bin');
  const certificates = certsOf('sev-snp', 'attestation-rs-azure/vcek.pem');
  t.true(verifySevSnp({ report: hcl, certificates }, { now: SNP_TIME }).verified);
  t.deepEqual(codes(verifySevSnp({ report: flipByte(hcl, 0x4d4 + 10), certificates }, { now: SNP_TIME })), ['BINDING_MISMATCH']);
  t.deepEqual(codes(verifySevSnp({ report: flipByte(hcl, 0x20 + 0x90), certificates }, { now: SNP_TIME }))[0], 'SIGNATURE_INVALID');
  t.deepEqual(codes(verifySevSnp({ report: hcl.subarray(0, 0x4c0), certificates }, { now: SNP_TIME })), ['MALFORMED_EVIDENCE']);
});

test('a policy-added root without allowSimulated never makes real AMD evidence simulated', (t) => {
  const v = run({});
  t.false(v.claims.simulated);
  t.is(v.claims.root, 'ARK-Milan');
});
