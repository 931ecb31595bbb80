// The simulated TEE publishes signed reference values (RIMs under its own root) for its GPUs, as NVIDIA
// does for real ones, so the simulated fleet can go through the same reference-value comparison.
import test from 'ava';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { codes } from './vectors.js';

test('the simulated TEE publishes reference values for its GPUs: a bundle checked against them verifies, another driver has none', (t) => {
  const now = new Date('2026-06-01T00:00:00Z');
  const tee = SimulatedTee.create({ now, gpus: 2 });
  const nonce = new Uint8Array(32).fill(7);
  const key = new Uint8Array(32).fill(9);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  const cpu = tee.snpReport({ nonce, publicKey: key });
  const bundleFor = (driverVersion?: string) => ({
    nonce: Buffer.from(nonce).toString('hex'), publicKey: Buffer.from(key).toString('hex'),
    cpu: { type: 'simulated' as const, report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
    gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, key), ...(driverVersion ? { driverVersion } : {}) }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
  });
  const { driver, vbios } = tee.referenceRims();
  const v = verifyEvidenceBundle(bundleFor(), { nonce, now, policy: tee.policy(), gpuRims: [driver, vbios] });
  t.deepEqual(v.reasons, []);
  t.deepEqual(v.claims.gpus.map((g) => g.referenceValues?.checked), [true, true]);
  t.deepEqual(v.claims.gpus.map((g) => g.referenceValues?.matched), [64, 64]);
  const other = verifyEvidenceBundle(bundleFor('560.35.03'), { nonce, now, policy: tee.policy(), gpuRims: [driver, vbios] });
  t.deepEqual(codes(other), ['COLLATERAL_MISSING', 'COLLATERAL_MISSING']);
  t.regex(other.reasons[0]!.message, /NV_GPU_DRIVER_GH100_560\.35\.03/);
});
