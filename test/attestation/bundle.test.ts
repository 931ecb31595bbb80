// Evidence bundles (CPU report + GPU reports + Ed25519 key) verify as a whole: report_data binds the key
// to the nonce, every GPU carries the GPU nonce derived from that nonce and key, and any part failing
// rejects the bundle.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { verifyEvidenceBundle, type EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { codes } from './vectors.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now, gpus: 2 });
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function bundleFor(nonce: Uint8Array, publicKey: Uint8Array, gpuNonce = gpuNonceFor(nonce, publicKey)): EvidenceBundle {
  const cpu = tee.snpReport({ nonce, publicKey });
  return {
    nonce: hex(nonce),
    publicKey: hex(publicKey),
    cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
    gpus: tee.gpuReports({ nonce: gpuNonce }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
  };
}

test('a simulated node bundle verifies and survives a JSON round trip', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const key = new Uint8Array(randomBytes(32));
  const bundle = JSON.parse(JSON.stringify(bundleFor(nonce, key))) as EvidenceBundle;
  const v = verifyEvidenceBundle(bundle, { nonce, now, policy: tee.policy({ gpu: { ccModeRequired: true } }), expectedGpuCount: 2 });
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
  t.true(v.claims.simulated);
  t.is(v.claims.gpus.length, 2);
});

test('a bundle for another nonce, another key, or with a GPU bound to another nonce is rejected', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const key = new Uint8Array(randomBytes(32));
  const policy = tee.policy();
  t.deepEqual(codes(verifyEvidenceBundle(bundleFor(nonce, key), { nonce: new Uint8Array(randomBytes(32)), now, policy })), ['NONCE_MISMATCH']);
  const swappedKey = { ...bundleFor(nonce, key), publicKey: hex(new Uint8Array(randomBytes(32))) };
  // The CPU report does not bind the claimed key, and neither GPU's nonce is derived from it.
  t.deepEqual(codes(verifyEvidenceBundle(swappedKey, { nonce, now, policy })), ['BINDING_MISMATCH', 'BINDING_MISMATCH', 'BINDING_MISMATCH']);
  const staleGpus = bundleFor(nonce, key, new Uint8Array(randomBytes(32)));
  t.deepEqual(codes(verifyEvidenceBundle(staleGpus, { nonce, now, policy })), ['BINDING_MISMATCH', 'BINDING_MISMATCH']);
});

test('a bundle missing a GPU the node must prove, or with malformed fields, is rejected', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const key = new Uint8Array(randomBytes(32));
  const bundle = bundleFor(nonce, key);
  t.deepEqual(codes(verifyEvidenceBundle({ ...bundle, gpus: bundle.gpus.slice(0, 1) }, { nonce, now, policy: tee.policy(), expectedGpuCount: 2 })), ['MALFORMED_EVIDENCE']);
  t.deepEqual(codes(verifyEvidenceBundle({ ...bundle, publicKey: 'zz' }, { nonce, now, policy: tee.policy() })), ['MALFORMED_EVIDENCE']);
  t.false(verifyEvidenceBundle({ ...bundle, cpu: { type: 'simulated', report: '!!', vcek: '', chain: '' } }, { nonce, now, policy: tee.policy() }).verified);
  t.false(verifyEvidenceBundle({} as EvidenceBundle, { nonce, now }).verified);
});

test('a simulated bundle under the default policy is never verified', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const v = verifyEvidenceBundle(bundleFor(nonce, new Uint8Array(randomBytes(32))), { nonce, now });
  t.false(v.verified);
  t.true(codes(v).includes('CHAIN_UNTRUSTED'));
});
