// The GPU model is what the signed evidence says, not a constant: chip from the opaque GPU_INFO field, model
// from chip + board project/SKU, and nothing when the evidence does not identify the GPU.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { gpuIdentity } from '../../operator/src/attestation/nvidia/gpu-model.js';
import { OPAQUE_FIELD } from '../../operator/src/attestation/nvidia/opaque.js';
import { verifyNvidiaGpu } from '../../operator/src/attestation/nvidia/verify.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { GPU_TIME, vectorPath } from './vectors.js';

const text = (f: string) => readFileSync(vectorPath('nvidia-h100', f), 'utf8');

test('both real H100 reports prove chip GH100 and model H100 from their signed opaque fields', (t) => {
  for (const [report, chain] of [['nvtrust/hopperAttestationReport.txt', 'nvtrust/hopperCertChain.txt'], ['trustee/hopper_coco_report1.txt', 'trustee/hopper_coco_certs1.txt']] as const) {
    const v = verifyNvidiaGpu({ evidence: text(report), chain: text(chain) }, { now: GPU_TIME });
    t.true(v.verified, report);
    t.is(v.claims.chip, 'GH100', report);
    t.is(v.claims.model, 'H100', report);
  }
});

test('a GPU whose evidence has no known GPU_INFO or board gets no model (never a default)', (t) => {
  const gh100 = new Map([[OPAQUE_FIELD.GPU_INFO, Uint8Array.of(0x80, 0x01, 0, 0, 0, 0, 0, 0)]]);
  t.deepEqual(gpuIdentity(gh100, '1010', '0200'), { chip: 'GH100', model: 'H100' });
  t.deepEqual(gpuIdentity(gh100, '9999', '0001'), { chip: 'GH100' });
  t.deepEqual(gpuIdentity(new Map([[OPAQUE_FIELD.GPU_INFO, Uint8Array.of(0x90, 0x01, 0, 0, 0, 0, 0, 0)]]), '1010', '0200'), {});
  t.deepEqual(gpuIdentity(new Map(), '1010', '0200'), {});
});

test('H200 boards (project G520, SKU 0280, as NVIDIA\'s verifier named them in VBIOS RIM ids) are told apart from H100 (G520/0202)', (t) => {
  const gh100 = new Map([[OPAQUE_FIELD.GPU_INFO, Uint8Array.of(0x80, 0x01, 0, 0, 0, 0, 0, 0)]]);
  t.deepEqual(gpuIdentity(gh100, 'G520', '0280'), { chip: 'GH100', model: 'H200' });
  t.deepEqual(gpuIdentity(gh100, 'G520', '0202'), { chip: 'GH100', model: 'H100' });
  t.deepEqual(gpuIdentity(gh100, 'G520', '0205'), { chip: 'GH100' }, 'a board no source names (H800) gets no model');
});

test('the simulated GPU reports itself as the real H100 reports do', (t) => {
  const tee = SimulatedTee.create({ now: new Date('2026-06-01T00:00:00Z') });
  const [g] = tee.gpuReports({ nonce: new Uint8Array(32) });
  const v = verifyNvidiaGpu({ evidence: g!.evidence, chain: g!.chain }, { now: new Date('2026-06-01T00:00:00Z'), policy: tee.policy() });
  t.true(v.verified);
  t.is(v.claims.model, 'H100');
});
