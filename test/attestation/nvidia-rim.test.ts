// GPU reference values: NVIDIA's signed RIMs are verified (XML signature over c14n 1.1, signer chain to the
// pinned CoRIM root) and the report's measurements are compared with them as NVIDIA's verifier does.
// Real evidence: the VBIOS RIM from nvtrust (96.00.74.00.1A, project 1010 SKU 0200 chip SKU 882) belongs to
// the trustee H100 report and differs from it at index 9 (SOURCE.md). No real driver RIM is in the vectors,
// so the driver side, and the passing comparison, use RIMs signed here under a TEST root, which the
// verifier accepts only with allowSimulated and then marks simulated.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { compareWithReferences } from '../../operator/src/attestation/nvidia/reference-values.js';
import { verifyRim, type RimManifest } from '../../operator/src/attestation/nvidia/rim.js';
import { nvidiaRimAnchor } from '../../operator/src/attestation/nvidia/rim-root.js';
import { verifyNvidiaGpu } from '../../operator/src/attestation/nvidia/verify.js';
import { signRim, type RimEntry } from '../../operator/src/attestation/simulated/rim.js';
import { createRoot, issue } from '../../operator/src/attestation/simulated/test-root.js';
import { codes, expectedJson, GPU_TIME, LATE_TIME, vectorPath } from './vectors.js';

const RIM_FILE = 'nvtrust/1010_0200_882_960074001A_PROD.swidtag';
const realRim = new Uint8Array(readFileSync(vectorPath('nvidia-h100', RIM_FILE)));
const text = (f: string) => readFileSync(vectorPath('nvidia-h100', f), 'utf8');
const expected = expectedJson('nvidia-h100');
const coco = { evidence: text('trustee/hopper_coco_report1.txt'), chain: text('trustee/hopper_coco_certs1.txt') };
const cocoNonce = fromHex(expected.vectors[1].request_nonce);

// TEST reference-value signer: a root made here, never NVIDIA's.
const validity = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') };
const testRoot = createRoot([['CN', 'Chrysalis TEST RIM Root (not NVIDIA)'], ['O', 'Chrysalis Simulated TEE']], validity);
const testSigner = issue(testRoot, [['CN', 'Chrysalis TEST RIM Signer'], ['O', 'Chrysalis Simulated TEE']], validity, { ca: false });
const testPolicy = { trustedRoots: [testRoot.pem], allowSimulated: true };

const real = verifyRim(realRim, [nvidiaRimAnchor()], GPU_TIME);
const realManifest = (real as { manifest: RimManifest }).manifest;
const reportBlocks: Record<string, string> = verifyNvidiaGpu(coco, { now: GPU_TIME }).claims.measurements!;

/** A TEST driver RIM for the trustee report: the report's own values wherever the VBIOS RIM is inactive. */
function testDriverRim(version = '580.95.05'): string {
  const entries: RimEntry[] = [...realManifest.measurements.values()].map((m) => ({ index: m.index, active: !m.active, values: [reportBlocks[String(m.index + 1)]!] }));
  return signRim({ version, entries, chain: [testSigner, testRoot] });
}

test('NVIDIA\'s VBIOS RIM from nvtrust verifies to the pinned CoRIM root and yields its reference values', (t) => {
  t.deepEqual(real.reasons, []);
  t.true(real.ok);
  t.is(realManifest.version, '96.00.74.00.1A');
  t.is(realManifest.product, 'GH100');
  t.is(realManifest.signer, 'HCC RIM L4 Signer');
  t.is(realManifest.root, 'NVIDIA CoRIM signing Root CA');
  t.false(realManifest.simulated);
  t.is(realManifest.measurements.size, 64);
  t.is([...realManifest.measurements.values()].filter((m) => m.active).length, 12);
  t.is(realManifest.measurements.get(9)!.values[0], '7f3e9382785513c1932dfcc9e87f6ef6bf5fefe88144c6ea48539e65f937013dd7349144e5f439dcea401dac26e5c098');
  t.is(realManifest.measurements.get(12)!.values.length, 4);
});

test('NVIDIA\'s RIM is refused once its signer certificates have expired', (t) => {
  const v = verifyRim(realRim, [nvidiaRimAnchor()], LATE_TIME);
  t.false(v.ok);
  // At the vectors' checked-on date both the L4 signer (2025-09-05) and the L3 CA (2026-11-11) are past notAfter.
  t.deepEqual(codes(v), ['CERT_EXPIRED', 'CERT_EXPIRED']);
  t.regex(v.reasons.map((r) => r.message).join('\n'), /HCC RIM L4 Signer/);
});

test('a RIM with one reference value edited after signing is refused (the digest no longer matches)', (t) => {
  const edited = Buffer.from(realRim).toString('utf8').replace('ns2:Hash0="7f3e9382', 'ns2:Hash0="059b32e7');
  t.not(edited, Buffer.from(realRim).toString('utf8'));
  const v = verifyRim(new Uint8Array(Buffer.from(edited)), [nvidiaRimAnchor()], GPU_TIME);
  t.deepEqual(codes(v), ['SIGNATURE_INVALID']);
});

test('a RIM with XML outside the supported subset (a comment, a DOCTYPE) is refused, not canonicalized differently', (t) => {
  const source = Buffer.from(realRim).toString('utf8');
  for (const changed of [source.replace('<ns0:Payload', '<!-- x --><ns0:Payload'), `<!DOCTYPE x [<!ENTITY e "y">]>${source}`]) {
    const v = verifyRim(new Uint8Array(Buffer.from(changed)), [nvidiaRimAnchor()], GPU_TIME);
    t.deepEqual(codes(v), ['MALFORMED_EVIDENCE']);
  }
});

test('a RIM signed under any other root is untrusted without a policy that adds it, and simulated with one', (t) => {
  const rim = new Uint8Array(Buffer.from(testDriverRim()));
  t.deepEqual(codes(verifyRim(rim, [nvidiaRimAnchor()], GPU_TIME)), ['CHAIN_UNTRUSTED']);
  const gpu = verifyNvidiaGpu(coco, { now: GPU_TIME, nonce: cocoNonce, policy: { trustedRoots: [testRoot.pem] }, rims: [realRim, rim] });
  t.true(codes(gpu).includes('SIMULATED_NOT_ALLOWED'));
});

test('the VBIOS RIM id derived from the trustee report\'s project, SKU, chip SKU and VBIOS is the vector\'s file name; the nvtrust report needs another', (t) => {
  const cocoClaims = verifyNvidiaGpu(coco, { now: GPU_TIME }).claims;
  t.is(cocoClaims.rimIds!.vbios, 'NV_GPU_VBIOS_1010_0200_882_960074001A');
  t.is(cocoClaims.rimIds!.driver, 'NV_GPU_DRIVER_GH100_580.95.05');
  t.true(RIM_FILE.includes(cocoClaims.rimIds!.vbios.replace('NV_GPU_VBIOS_', '')));
  const nvtrust = verifyNvidiaGpu({ evidence: text('nvtrust/hopperAttestationReport.txt'), chain: text('nvtrust/hopperCertChain.txt') }, { now: GPU_TIME, rims: [realRim] });
  t.is(nvtrust.claims.rimIds!.vbios, 'NV_GPU_VBIOS_1010_0200_882_96009F0001');
  t.deepEqual(codes(nvtrust), ['COLLATERAL_MISSING', 'COLLATERAL_MISSING']);
  t.regex(nvtrust.reasons.map((r) => r.message).join('\n'), /NV_GPU_VBIOS_1010_0200_882_96009F0001/);
});

test('the real trustee H100 report differs from NVIDIA\'s real VBIOS RIM at index 9 only: REFERENCE_MISMATCH', (t) => {
  const v = verifyNvidiaGpu(coco, { now: GPU_TIME, nonce: cocoNonce, policy: testPolicy, rims: [realRim, testDriverRim()] });
  t.false(v.verified);
  t.deepEqual(codes(v), ['REFERENCE_MISMATCH']);
  t.regex(v.reasons[0]!.message, /index 9 \(block 10, VBIOS RIM 96\.00\.74\.00\.1A\): 059b32e712a153f4… is not 7f3e9382785513c1…$/);
});

test('without reference values for its versions a GPU is refused once RIMs are required, and says which are missing', (t) => {
  const v = verifyNvidiaGpu(coco, { now: GPU_TIME, nonce: cocoNonce, rims: [] });
  t.deepEqual(codes(v), ['COLLATERAL_MISSING', 'COLLATERAL_MISSING']);
  const notRequired = verifyNvidiaGpu(coco, { now: GPU_TIME, nonce: cocoNonce });
  t.true(notRequired.verified);
  t.deepEqual(notRequired.claims.referenceValues, { checked: false });
});

test('with TEST-signed RIMs that carry its values the real report passes the comparison, marked simulated', (t) => {
  const entries: RimEntry[] = [...realManifest.measurements.values()].map((m) => ({ index: m.index, active: m.active, values: m.index === 9 ? [reportBlocks['10']!] : m.values }));
  const vbios = signRim({ version: '96.00.74.00.1A', entries, chain: [testSigner, testRoot] });
  const v = verifyNvidiaGpu(coco, { now: GPU_TIME, nonce: cocoNonce, policy: testPolicy, rims: [vbios, testDriverRim()] });
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
  t.true(v.claims.simulated);
  t.deepEqual(v.claims.referenceValues, { checked: true, driverRim: '580.95.05', vbiosRim: '96.00.74.00.1A', root: 'policy root Chrysalis TEST RIM Root (not NVIDIA)', matched: 63 });
});

function manifest(version: string, entries: [number, boolean, string[]][]): RimManifest {
  return { version, product: 'GH100', tagId: 't', signer: 's', root: 'r', simulated: true, measurements: new Map(entries.map(([index, active, values]) => [index, { index, name: `m${index}`, active, values, size: 48 }])) };
}
const h = (c: string) => c.repeat(96);

test('a block matching any alternative of its reference passes; one matching none is named', (t) => {
  const driver = manifest('d', [[0, true, [h('a'), h('b')]]]);
  const vbios = manifest('v', [[1, true, [h('c')]]]);
  t.deepEqual(compareWithReferences({ 1: h('b'), 2: h('c') }, driver, vbios, false).reasons, []);
  const bad = compareWithReferences({ 1: h('d'), 2: h('c') }, driver, vbios, false);
  t.deepEqual(codes(bad), ['REFERENCE_MISMATCH']);
  t.regex(bad.reasons[0]!.message, /index 0 \(block 1, driver RIM d\)/);
  t.deepEqual(codes(compareWithReferences({ 2: h('c') }, driver, vbios, false)), ['REFERENCE_MISMATCH'], 'an absent block is a mismatch');
});

test('index 35 is skipped only when the report says NVDEC0 is disabled', (t) => {
  const driver = manifest('d', [[35, true, [h('a')]]]);
  const vbios = manifest('v', [[1, true, [h('c')]]]);
  t.deepEqual(compareWithReferences({ 2: h('c'), 36: h('f') }, driver, vbios, true).reasons, []);
  t.deepEqual(codes(compareWithReferences({ 2: h('c'), 36: h('f') }, driver, vbios, false)), ['REFERENCE_MISMATCH']);
});

test('a driver RIM and a VBIOS RIM that both claim one index are refused as inconsistent', (t) => {
  const driver = manifest('d', [[3, true, [h('a')]]]);
  const vbios = manifest('v', [[3, true, [h('a')]]]);
  t.deepEqual(codes(compareWithReferences({ 4: h('a') }, driver, vbios, false)), ['COLLATERAL_INVALID']);
});
