// OCSP (operator/src/attestation/ocsp.ts) and NVIDIA certificate status (nvidia/revocation.ts), pure.
// The responses are signed under the simulated TEE's root (test/attestation/ocsp-responder.ts): no
// NVIDIA-signed OCSP response is among the vectors (test/vectors/nvidia-h100/SOURCE.md).
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { children, decodeOid, DER, readSingle } from '../../operator/src/attestation/der.js';
import { verifyNvidiaGpu } from '../../operator/src/attestation/nvidia/verify.js';
import { buildOcspRequest, certIdFor, judgeOcsp, parseOcspResponse } from '../../operator/src/attestation/ocsp.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import type { IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { ocspResponse, readRequest, responderFor, type ResponseSpec } from './ocsp-responder.js';

const DAY = 86_400_000;
const T = new Date('2026-06-01T00:00:00Z');
const at = (days: number) => new Date(T.getTime() + days * DAY);
const tee = SimulatedTee.create({ now: T, days: 60 });
const gpu = tee.gpus[0]!;
const { brom } = gpu;
const { provisioner, identity } = gpu.cas;
const root = tee.root;
const p = (c: { der: Uint8Array }) => parseCertificate(c.der);
const validity = { notBefore: at(-1), notAfter: at(30) };

const good = (spec: Partial<ResponseSpec> & Pick<ResponseSpec, 'cert' | 'issuer'>) => ocspResponse({ thisUpdate: at(-0.5), nextUpdate: at(6), ...spec });
/** Good responses for the three NVIDIA-issued certificates of the simulated GPU chain. */
const allGood = () => [good({ cert: brom, issuer: provisioner }), good({ cert: provisioner, issuer: identity }), good({ cert: identity, issuer: root })];

test('the request carries a SHA-384 CertID of the issuer\'s name and key and the serial, and the nonce extension', (t) => {
  const nonce = new Uint8Array(randomBytes(32));
  const der = buildOcspRequest([certIdFor(p(brom), p(provisioner))], nonce);
  const certId = children(children(children(children(children(readSingle(der, DER.SEQUENCE))[0]!)[0]!)[0]!)[0]!);
  t.is(decodeOid(children(certId[0]!)[0]!), '2.16.840.1.101.3.4.2.2');
  // Independently: the issuer's subject Name DER, and the P-384 key's 97 bytes (04 ‖ X ‖ Y) at the end of its SPKI.
  t.deepEqual(Buffer.from(certId[1]!.content), createHash('sha384').update(p(provisioner).subjectDer).digest());
  const spki = p(provisioner).publicKey.export({ type: 'spki', format: 'der' });
  t.deepEqual(Buffer.from(certId[2]!.content), createHash('sha384').update(spki.subarray(spki.length - 97)).digest());
  const asked = readRequest(der);
  t.is(asked.serial, p(brom).serialHex.replace(/^0+/, ''));
  t.deepEqual(asked.nonce, nonce);
});

test('a response signed by the issuer, or by its delegated responder with id-kp-OCSPSigning, says good', (t) => {
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner })], T).status, 'good');
  const responder = responderFor(provisioner, validity);
  const r = parseOcspResponse(good({ cert: brom, issuer: provisioner, signer: responder }));
  t.is(r.certs.length, 1);
  t.is(judgeOcsp(p(brom), p(provisioner), [r], T).status, 'good');
  // SHA-1 CertIDs (RFC 6960's default) are matched too.
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, hash: 'sha1' })], T).status, 'good');
});

test('a response is not used when its signer is not the issuer or a proper delegated responder, or its signature is forged', (t) => {
  const noEku = responderFor(provisioner, validity, { eku: false });
  const j1 = judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, signer: noEku })], T);
  t.is(j1.status, 'missing');
  t.regex((j1 as { problem: string }).problem, /id-kp-OCSPSigning/);
  // A responder certified by another CA (the root), though it carries the EKU.
  const other = responderFor(root, validity);
  const j2 = judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, signer: other })], T);
  t.is(j2.status, 'missing');
  t.regex((j2 as { problem: string }).problem, /was not issued by/);
  const j3 = judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, corruptSignature: true })], T);
  t.is(j3.status, 'missing');
  t.regex((j3 as { problem: string }).problem, /signature does not verify/);
  // A response about another certificate does not answer for this one.
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: provisioner, issuer: identity })], T).status, 'missing');
});

test('revoked and unknown are reported; past nextUpdate, before thisUpdate or without nextUpdate a response is stale; the newest decides', (t) => {
  const revoked = good({ cert: brom, issuer: provisioner, status: 'revoked', revocationReason: 1, thisUpdate: at(1), nextUpdate: at(8) });
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner }), revoked], at(2)).status, 'revoked');
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, status: 'unknown' })], T).status, 'unknown');
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner })], at(7)).status, 'stale');
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, thisUpdate: at(1) })], T).status, 'stale');
  t.is(judgeOcsp(p(brom), p(provisioner), [good({ cert: brom, issuer: provisioner, nextUpdate: null })], T).status, 'stale');
});

test('a response that is not successful, or not DER, does not parse (COLLATERAL_INVALID)', (t) => {
  t.throws(() => parseOcspResponse(Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x03)), { message: /tryLater/ });
  t.throws(() => parseOcspResponse(Uint8Array.of(0x30, 0x80, 0, 0)), { message: /does not parse/ });
});

function gpuVerdict(ocspResponses: Uint8Array[] | undefined, now = T, rims?: string[]) {
  const nonce = new Uint8Array(randomBytes(32));
  const r = gpu.report({ nonce });
  return verifyNvidiaGpu({ evidence: r.evidence, chain: r.chain }, { now, nonce, policy: tee.policy(), ...(ocspResponses ? { ocspResponses } : {}), ...(rims ? { rims } : {}) });
}
const codes = (v: { reasons: { code: string }[] }) => [...new Set(v.reasons.map((r) => r.code))];

test('GPU chain: with responses given, the BROM, Provisioner ICA and Identity certificates each need a current good status', (t) => {
  t.deepEqual(gpuVerdict(allGood()).reasons, []);
  t.deepEqual(gpuVerdict(undefined).reasons, [], 'no responses given: status is not checked');
  const [bromR, icaR, idR] = allGood();
  const revokedIca = good({ cert: provisioner, issuer: identity, status: 'revoked' });
  const v = gpuVerdict([bromR!, revokedIca, idR!]);
  t.deepEqual(codes(v), ['CERT_REVOKED']);
  t.regex(v.reasons[0]!.message, /Simulated GH100 Provisioner ICA 1/);
  t.deepEqual(codes(gpuVerdict([bromR!, icaR!])), ['COLLATERAL_MISSING'], 'no status for the Identity certificate');
  t.deepEqual(codes(gpuVerdict([bromR!, icaR!, good({ cert: identity, issuer: root, status: 'unknown' })])), ['COLLATERAL_MISSING']);
  t.deepEqual(codes(gpuVerdict(allGood(), at(6.5))), ['COLLATERAL_INVALID'], 'every response is past its nextUpdate');
});

test('RIM signing chain: with responses given, the RIM signer needs a current good status too', (t) => {
  const rims = tee.referenceRims();
  const signerB64 = /<(?:ds:)?X509Certificate>([^<]+)</.exec(rims.driver)![1]!;
  const signer = { der: new Uint8Array(Buffer.from(signerB64.replace(/\s+/g, ''), 'base64')) } as IssuedCertificate;
  t.regex(p(signer).subjectCommonName ?? '', /RIM Signer/);
  const missing = gpuVerdict(allGood(), T, [rims.driver, rims.vbios]);
  t.deepEqual(codes(missing), ['COLLATERAL_MISSING']);
  t.regex(missing.reasons[0]!.message, /RIM 0 signer chain: no OCSP status for certificate "Simulated RIM Signer"/);
  t.deepEqual(gpuVerdict([...allGood(), good({ cert: signer, issuer: root })], T, [rims.driver, rims.vbios]).reasons, []);
  t.deepEqual(codes(gpuVerdict([...allGood(), good({ cert: signer, issuer: root, status: 'revoked', revocationReason: 6 })], T, [rims.driver, rims.vbios])), ['CERT_REVOKED'], 'on hold is revoked');
});
