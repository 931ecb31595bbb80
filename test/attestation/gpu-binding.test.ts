// GPU evidence is bound to the CPU evidence it travels with: each GPU signs
// SHA-256("chrysalis-gpu" ‖ challenge nonce ‖ public key) as its SPDM nonce, the key being the one the CPU
// report binds. GPU reports answered for another challenge, for another CPU key, or for the bare challenge
// nonce are refused, so a GPU report cannot be lifted from one bundle into another.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { verifyEvidenceBundle, type EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { codes } from './vectors.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now, gpus: 2 });
const policy = tee.policy();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const random32 = () => new Uint8Array(randomBytes(32));

function cpuPart(nonce: Uint8Array, publicKey: Uint8Array): Pick<EvidenceBundle, 'nonce' | 'publicKey' | 'cpu'> {
  const cpu = tee.snpReport({ nonce, publicKey });
  return { nonce: hex(nonce), publicKey: hex(publicKey), cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem } };
}

function gpuPart(spdmNonce: Uint8Array): EvidenceBundle['gpus'] {
  return tee.gpuReports({ nonce: spdmNonce }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem }));
}

test('the GPU nonce is SHA-256 of "chrysalis-gpu", the challenge nonce and the public key', (t) => {
  const nonce = random32();
  const key = random32();
  const expected = createHash('sha256').update('chrysalis-gpu').update(nonce).update(key).digest();
  t.is(hex(gpuNonceFor(nonce, key)), expected.toString('hex'));
  t.throws(() => gpuNonceFor(nonce, key.subarray(1)));
});

test('a bundle whose GPUs answered its own challenge and key verifies', (t) => {
  const nonce = random32();
  const key = random32();
  const v = verifyEvidenceBundle({ ...cpuPart(nonce, key), gpus: gpuPart(gpuNonceFor(nonce, key)) }, { nonce, now, policy, expectedGpuCount: 2 });
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
});

test('GPU evidence lifted from another CPU key\'s bundle for the same challenge is rejected', (t) => {
  // Two attesters answer one challenge; the second takes the first one's GPU reports (from other GPUs).
  const nonce = random32();
  const donorKey = random32();
  const thiefKey = random32();
  const donorGpus = gpuPart(gpuNonceFor(nonce, donorKey));
  t.true(verifyEvidenceBundle({ ...cpuPart(nonce, donorKey), gpus: donorGpus }, { nonce, now, policy }).verified, 'the donor bundle itself is genuine');
  const v = verifyEvidenceBundle({ ...cpuPart(nonce, thiefKey), gpus: donorGpus }, { nonce, now, policy });
  t.false(v.verified);
  t.deepEqual(codes(v), ['BINDING_MISMATCH', 'BINDING_MISMATCH']);
  t.regex(v.reasons[0]!.message, /GPU 0: .*chrysalis-gpu/);
});

test('GPU evidence answered for an earlier challenge is rejected beside a fresh CPU report', (t) => {
  const key = random32();
  const earlier = random32();
  const nonce = random32();
  const v = verifyEvidenceBundle({ ...cpuPart(nonce, key), gpus: gpuPart(gpuNonceFor(earlier, key)) }, { nonce, now, policy });
  t.false(v.verified);
  t.deepEqual(codes(v), ['BINDING_MISMATCH', 'BINDING_MISMATCH']);
});

test('GPU evidence signed over the bare challenge nonce (not bound to any key) is rejected', (t) => {
  const nonce = random32();
  const key = random32();
  const v = verifyEvidenceBundle({ ...cpuPart(nonce, key), gpus: gpuPart(nonce) }, { nonce, now, policy });
  t.false(v.verified);
  t.deepEqual(codes(v), ['BINDING_MISMATCH', 'BINDING_MISMATCH']);
});
