// The simulated TEE writes the real SNP and H100 byte formats for any nonce; the verifier accepts them
// only with a policy that adds the simulated root and sets allowSimulated.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { parseSnpReport } from '../../operator/src/attestation/sev-snp/report.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { verifyNvidiaGpu, verifyNvidiaGpus } from '../../operator/src/attestation/nvidia/verify.js';
import { expectedReportData } from '../../operator/src/attestation/freshness.js';
import { codes, flipByte } from './vectors.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now, gpus: 2 });
const nonce = new Uint8Array(randomBytes(32));
const publicKey = new Uint8Array(randomBytes(32));

test('a simulated SNP report is 0x4A0 bytes in the real layout with report_data = SHA-512(nonce ‖ key)', (t) => {
  const e = tee.snpReport({ nonce, publicKey });
  const report = parseSnpReport(e.report);
  t.is(e.report.length, 0x4a0);
  t.is(report.version, 3);
  t.deepEqual(report.reportData, expectedReportData(nonce, publicKey));
  t.deepEqual(report.chipId, tee.snp.chipId);
});

test('with the simulated root and allowSimulated, simulated SNP evidence verifies and says simulated', (t) => {
  const e = tee.snpReport({ nonce, publicKey });
  const v = verifySevSnp({ report: e.report, certificates: [e.vcek], chain: e.chain }, { now, nonce, publicKey, policy: tee.policy() });
  t.deepEqual(v.reasons, []);
  t.true(v.claims.simulated);
  t.is(v.claims.generation, 'Milan');
});

test('without the simulated root, simulated evidence is CHAIN_UNTRUSTED; with the root but no allowSimulated, SIMULATED_NOT_ALLOWED', (t) => {
  const e = tee.snpReport({ nonce });
  t.is(codes(verifySevSnp({ report: e.report, certificates: [e.vcek], chain: e.chain }, { now, nonce }))[0], 'CHAIN_UNTRUSTED');
  t.deepEqual(codes(verifySevSnp({ report: e.report, certificates: [e.vcek], chain: e.chain }, { now, nonce, policy: { trustedRoots: [tee.rootPem] } })), ['SIMULATED_NOT_ALLOWED']);
});

test('a second simulated TEE root does not vouch for the first one\'s evidence', (t) => {
  const other = SimulatedTee.create({ now, gpus: 0 });
  const e = tee.snpReport({ nonce });
  t.is(codes(verifySevSnp({ report: e.report, certificates: [e.vcek], chain: e.chain }, { now, nonce, policy: other.policy() }))[0], 'CHAIN_UNTRUSTED');
});

test('simulated SNP evidence goes through every check: nonce, binding, debug, TCB, measurement, tampering', (t) => {
  const policy = tee.policy();
  const run = (e: ReturnType<typeof tee.snpReport>, extra: Partial<Parameters<typeof verifySevSnp>[1]> = {}) =>
    verifySevSnp({ report: e.report, certificates: [e.vcek], chain: e.chain }, { now, nonce, publicKey, policy, ...extra });
  const good = tee.snpReport({ nonce, publicKey });
  t.deepEqual(codes(run(good, { nonce: new Uint8Array(32) })), ['BINDING_MISMATCH']);
  t.deepEqual(codes(run(good, { publicKey: new Uint8Array(32) })), ['BINDING_MISMATCH']);
  t.deepEqual(codes(run(tee.snpReport({ nonce }), { publicKey: undefined, nonce: new Uint8Array(32) })), ['NONCE_MISMATCH']);
  t.deepEqual(codes(run(tee.snpReport({ nonce, publicKey, policy: 0xb0000n }))), ['DEBUG_ENABLED']);
  t.deepEqual(codes(run(good, { policy: tee.policy({ minimumTcb: { snp: 9 } }) })), ['TCB_TOO_LOW']);
  t.deepEqual(codes(run(good, { policy: tee.policy({ allowedMeasurements: ['00'.repeat(48)] }) })), ['MEASUREMENT_NOT_ALLOWED']);
  t.deepEqual(codes(run({ ...good, report: flipByte(good.report, 0x90) })), ['SIGNATURE_INVALID']);
  t.deepEqual(codes(run(good, { now: new Date(tee.validity.notAfter.getTime() + 1000) })).filter((c) => c === 'CERT_EXPIRED').length > 0, true);
});

test('simulated H100 evidence verifies for the nonce with a five-certificate chain and CC mode on', (t) => {
  const [gpu] = tee.gpuReports({ nonce });
  const v = verifyNvidiaGpu({ evidence: gpu!.evidence, chain: gpu!.chain }, { now, nonce, policy: tee.policy({ gpu: { ccModeRequired: true, driverVersions: ['550.90.07'] } }) });
  t.deepEqual(v.reasons, []);
  t.is(v.claims.ccMode, 'on');
  t.true(v.claims.simulated);
  t.is(v.claims.vbiosVersion, '96.00.9F.00.01');
});

test('simulated GPU faults: CC off, another driver, a stale nonce, a tampered measurement', (t) => {
  const policy = tee.policy({ gpu: { ccModeRequired: true, driverVersions: ['550.90.07'] } });
  const run = (g: { evidence: Uint8Array; chain: Uint8Array[] }, n = nonce) => verifyNvidiaGpu({ evidence: g.evidence, chain: g.chain }, { now, nonce: n, policy });
  t.deepEqual(codes(run(tee.gpuReports({ nonce, ccFeature: null })[0]!)), ['GPU_CC_DISABLED']);
  t.deepEqual(codes(run(tee.gpuReports({ nonce, driverVersion: '535.0.0' })[0]!)), ['VERSION_NOT_ALLOWED']);
  t.deepEqual(codes(run(tee.gpuReports({ nonce: new Uint8Array(32) })[0]!)), ['NONCE_MISMATCH']);
  const good = tee.gpuReports({ nonce })[0]!;
  t.deepEqual(codes(run({ ...good, evidence: flipByte(good.evidence, 100) })), ['SIGNATURE_INVALID']);
  t.is(tee.gpuReports({ nonce, ccFeature: 'ppcie' }).map((g) => verifyNvidiaGpu({ evidence: g.evidence, chain: g.chain }, { now, nonce, policy }).claims.ccMode)[0], 'ppcie');
});

test('multi-GPU: each GPU of the simulated TEE verifies for one nonce; GPUs bound to different nonces do not', (t) => {
  const reports = tee.gpuReports({ nonce }).map((g) => ({ evidence: g.evidence, chain: g.chain }));
  const ok = verifyNvidiaGpus(reports, { now, nonce, policy: tee.policy() });
  t.deepEqual(ok.reasons, []);
  t.is(ok.claims.gpus.length, 2);
  t.not(ok.claims.gpus[0]!.deviceId, ok.claims.gpus[1]!.deviceId);
  const mixed = [reports[0]!, { evidence: tee.gpus[1]!.report({ nonce: new Uint8Array(32) }).evidence, chain: reports[1]!.chain }];
  t.true(codes(verifyNvidiaGpus(mixed, { now, policy: tee.policy() })).includes('NONCE_MISMATCH'));
});
