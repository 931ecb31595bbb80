// A caller that found no AttestationPolicy (a lookup that returned nothing, a forgotten argument) must
// not verify evidence against the empty policy, which admits any image, TCB, VMPL and GPU mode: the
// operator's two entry points, the bundle verifier and the service's verifier, refuse it.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { verifyEvidenceBundle, type EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { verifyWithPolicy } from '../../operator/src/attestation/service/bundle-verifier.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { codes } from './vectors.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now, gpus: 1 });
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function bundle(nonce: Uint8Array, publicKey: Uint8Array): EvidenceBundle {
  const cpu = tee.snpReport({ nonce, publicKey });
  return {
    nonce: hex(nonce), publicKey: hex(publicKey),
    cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
    gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, publicKey) }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
  };
}

test('a bundle verifier called without a policy refuses with POLICY_NOT_FOUND instead of checking against nothing', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const b = bundle(nonce, new Uint8Array(randomBytes(32)));
  t.true(verifyEvidenceBundle(b, { nonce, now, policy: tee.policy() }).verified, 'the same bundle passes with its policy');
  const v = verifyEvidenceBundle(b, { nonce, now });
  t.false(v.verified);
  t.true(codes(v).includes('POLICY_NOT_FOUND'));
});

test('the attestation service\'s verifier given no policy (none found) rejects and says a policy is missing', async (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const publicKey = new Uint8Array(randomBytes(32));
  const b = bundle(nonce, publicKey);
  const request = { subject: { kind: 'node' as const, nodeName: 'gpu-1' }, nonce: hex(nonce), publicKey: hex(publicKey), cpu: b.cpu, gpus: b.gpus };
  const outcome = await verifyWithPolicy(request, { policy: undefined, now, nonceIssuedAt: now });
  t.false(outcome.verified);
  t.true(outcome.reasons.some((r) => /no AttestationPolicy was given/.test(r.message)), JSON.stringify(outcome.reasons));
});
