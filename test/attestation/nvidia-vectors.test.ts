// The NVIDIA H100 vectors in test/vectors/nvidia-h100: both real reports verify with their chains
// and yield the claims expected.json lists; the three broken chains from trustee are rejected.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { verifyNvidiaGpu, verifyNvidiaGpus } from '../../operator/src/attestation/nvidia/verify.js';
import { codes, expectedJson, GPU_TIME, vectorPath } from './vectors.js';

const expected = expectedJson('nvidia-h100');
const text = (f: string) => readFileSync(vectorPath('nvidia-h100', f), 'utf8');

const pairs = [
  { report: 'nvtrust/hopperAttestationReport.txt', chain: 'nvtrust/hopperCertChain.txt', exp: expected.vectors[0] },
  { report: 'trustee/hopper_coco_report1.txt', chain: 'trustee/hopper_coco_certs1.txt', exp: expected.vectors[1] },
];

for (const { report, chain, exp } of pairs) {
  test(`${report} verifies with ${chain} and its claims equal expected.json`, (t) => {
    const v = verifyNvidiaGpu({ evidence: text(report), chain: text(chain) }, { now: GPU_TIME, nonce: fromHex(exp.request_nonce) });
    t.deepEqual(v.reasons, []);
    t.true(v.verified);
    t.is(v.claims.nonce, exp.request_nonce);
    t.is(v.claims.responderNonce, exp.responder_nonce);
    t.is(v.claims.driverVersion, exp.driver_version);
    t.is(v.claims.vbiosVersion, exp.vbios_version);
    t.is(v.claims.project, exp.project);
    t.is(v.claims.projectSku, exp.project_sku);
    t.is(v.claims.chipSku, exp.chip_sku);
    t.is(v.claims.fwid, exp.opaque_fwid);
    t.is(v.claims.fwid, exp.leaf_cert_fwid_ext);
    t.is(v.claims.spdmVersion, '1.1');
    t.is(v.claims.root, 'NVIDIA Device Identity CA');
    t.is(v.claims.deviceId, /serialNumber = ([0-9A-F]+)/.exec(exp.leaf_subject)![1]);
    t.is(Object.keys(v.claims.measurements!).length, exp.num_blocks);
    t.deepEqual(v.claims.measurements, exp.measurements_1based);
  });

  test(`${report} also verifies from binary evidence`, (t) => {
    const binary = fromHex(text(report));
    t.true(verifyNvidiaGpu({ evidence: binary, chain: text(chain) }, { now: GPU_TIME }).verified);
  });
}

test('the trustee report claims CC mode through FEATURE_FLAG (SPT); the older nvtrust driver does not report it', (t) => {
  const a = verifyNvidiaGpu({ evidence: text(pairs[1]!.report), chain: text(pairs[1]!.chain) }, { now: GPU_TIME, policy: { gpu: { ccModeRequired: true } } });
  t.true(a.verified);
  t.is(a.claims.ccMode, 'on');
  t.is(a.claims.ccFeature, 'spt');
  const b = verifyNvidiaGpu({ evidence: text(pairs[0]!.report), chain: text(pairs[0]!.chain) }, { now: GPU_TIME, policy: { gpu: { ccModeRequired: true } } });
  t.is(b.claims.ccMode, 'unknown');
  t.deepEqual(codes(b), ['GPU_CC_DISABLED']);
});

test('the trustee report has one trailing 0x00 after the signature and still verifies (signature found structurally)', (t) => {
  const bytes = fromHex(text('trustee/hopper_coco_report1.txt'));
  t.is(bytes.length, 4130);
  t.is(bytes[bytes.length - 1], 0);
  t.true(verifyNvidiaGpu({ evidence: bytes, chain: text('trustee/hopper_coco_certs1.txt') }, { now: GPU_TIME }).verified);
});

test('case 2: a chain holding only the root CA is rejected (CHAIN_UNTRUSTED)', (t) => {
  const v = verifyNvidiaGpu({ evidence: text(pairs[0]!.report), chain: text('trustee/hopper_cert_chain_case2.txt') }, { now: GPU_TIME });
  t.false(v.verified);
  t.is(codes(v)[0], 'CHAIN_UNTRUSTED');
});

test('case 3: a chain missing the Provisioner ICA is rejected (CHAIN_UNTRUSTED)', (t) => {
  const v = verifyNvidiaGpu({ evidence: text(pairs[0]!.report), chain: text('trustee/hopper_cert_chain_case3.txt') }, { now: GPU_TIME });
  t.false(v.verified);
  t.is(codes(v)[0], 'CHAIN_UNTRUSTED');
});

test('case 4: a chain whose first certificate is the BROM (leaf removed) is rejected: short chain, bad signature, no FWID', (t) => {
  const v = verifyNvidiaGpu({ evidence: text(pairs[0]!.report), chain: text('trustee/hopper_cert_chain_case4.txt') }, { now: GPU_TIME });
  t.false(v.verified);
  t.deepEqual(codes(v), ['CHAIN_UNTRUSTED', 'SIGNATURE_INVALID', 'CERT_MISMATCH']);
});

test('the two real GPUs verify together as multi-GPU evidence only when both carry the expected nonce', (t) => {
  const inputs = pairs.map((p) => ({ evidence: text(p.report), chain: text(p.chain) }));
  const v = verifyNvidiaGpus(inputs, { now: GPU_TIME });
  // Two different real reports necessarily carry two different nonces.
  t.true(codes(v).includes('NONCE_MISMATCH'));
  const one = verifyNvidiaGpus([inputs[0]!], { now: GPU_TIME, nonce: fromHex(pairs[0]!.exp.request_nonce) });
  t.true(one.verified);
  t.is(one.claims.gpus.length, 1);
});

test('the same GPU twice in multi-GPU evidence is DUPLICATE_DEVICE', (t) => {
  const input = { evidence: text(pairs[0]!.report), chain: text(pairs[0]!.chain) };
  t.deepEqual(codes(verifyNvidiaGpus([input, input], { now: GPU_TIME })), ['DUPLICATE_DEVICE']);
});
