// The RA-TLS certificate format (attester/src/gateway/ra-tls-certificate.ts) and the client's judgement of
// it (cli/src/client/verify-replica.ts): a certificate built from a simulated replica's evidence parses
// back to the same key and bundle and verifies under a policy that trusts the simulated root; one whose
// evidence extension was changed, whose key is not the key the evidence binds, whose nonce is not the
// one derived from notBefore (the evidence then binds another nonce), or that is too old, is refused with a reason code; and the simulated TEE
// passes only under a policy with allowSimulated.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Attester } from '../../attester/src/attester.js';
import { CHRYSALIS_OID_ARC, RA_TLS_EVIDENCE_OID, buildRaTlsCertificate, parseRaTlsCertificate, raTlsNonce } from '../../attester/src/gateway/ra-tls-certificate.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { checkCertificate, checkFreshEvidence } from '../../cli/src/client/verify-replica.js';
import type { EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { children, decodeOid, readSingle } from '../../operator/src/attestation/der.js';
import { derBitString, derOid, derSequence } from '../../operator/src/attestation/simulated/der-encode.js';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const tee = await SimulatedTee.create({ gpus: 1 });
const policy = tee.policy();
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};
const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
const notAfter = new Date(notBefore.getTime() + 600_000);
const now = new Date(notBefore.getTime() + 90_000);

async function evidenceFor(identity: AttesterIdentity, nonce: Uint8Array): Promise<EvidenceBundle> {
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
  return bundle;
}

async function certificateOf(identity: AttesterIdentity, evidence?: EvidenceBundle) {
  return buildRaTlsCertificate({ publicKey: identity.publicKey, sign: (tbs) => identity.sign(tbs), evidence: evidence ?? (await evidenceFor(identity, raTlsNonce(notBefore))), notBefore, notAfter });
}

/** The DER with the first occurrence of `from` replaced by `to` (same length), e.g. a byte in the evidence. */
function replaced(der: Uint8Array, from: string, to: string): Uint8Array {
  const buf = Buffer.from(der);
  const at = buf.indexOf(from);
  if (at < 0 || from.length !== to.length) throw new Error('test setup: pattern not in the certificate');
  Buffer.from(to).copy(buf, at);
  return new Uint8Array(buf);
}

/** Offset of the DER OBJECT IDENTIFIER `oid` in `der`, or -1. */
function oidOffset(der: Uint8Array, oid: string): number {
  const encoded = Buffer.from(derOid(oid));
  return Buffer.from(der).indexOf(encoded);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AttestationError ? err.code : `threw ${(err as Error).message}`;
  }
}

const identity = AttesterIdentity.generate();
const good = await certificateOf(identity);

test('the evidence OID is a UUID arc under 2.25 and reads back from the certificate exactly (a 128-bit arc, not rounded)', (t) => {
  t.regex(CHRYSALIS_OID_ARC, /^2\.25\.\d{30,39}$/);
  t.true(RA_TLS_EVIDENCE_OID.startsWith(`${CHRYSALIS_OID_ARC}.`));
  t.true(oidOffset(good.der, RA_TLS_EVIDENCE_OID) >= 0);
  // The arc's neighbour differs only far below 2^53's precision: a number-based reader takes them for one.
  const neighbour = `2.25.${BigInt(CHRYSALIS_OID_ARC.slice(5)) + 1n}.1.1`;
  t.is(decodeOid(readSingle(derOid(neighbour), 0x06)), neighbour);
  t.is(oidOffset(good.der, neighbour), -1);
});

test('build → parse round trip: same key, same evidence, nonce derived from notBefore', (t) => {
  const parsed = parseRaTlsCertificate(good.der);
  t.is(parsed.publicKeyHex, identity.publicKeyHex);
  t.deepEqual(Buffer.from(parsed.nonce), Buffer.from(raTlsNonce(notBefore)));
  t.is(parsed.evidence.nonce, Buffer.from(raTlsNonce(notBefore)).toString('hex'));
  t.is(parsed.evidence.publicKey, identity.publicKeyHex);
  t.is(parsed.notBefore.getTime(), notBefore.getTime());
  t.is(parsed.notAfter.getTime(), notAfter.getTime());
  t.is(parsed.evidence.gpus.length, 1);
});

test('the client accepts the certificate under a policy that trusts the simulated root, and reports the claims', (t) => {
  const { verdict } = checkCertificate(good.der, { policy, now });
  t.deepEqual(verdict.reasons, []);
  t.true(verdict.verified);
  t.is(verdict.tee, 'simulated');
  t.is(verdict.publicKey, identity.publicKeyHex);
  t.is(verdict.gpus.length, 1);
  t.truthy(verdict.measurement);
});

test('the simulated TEE is refused under a policy without allowSimulated (SIMULATED_NOT_ALLOWED)', (t) => {
  const { verdict } = checkCertificate(good.der, { policy: { ...policy, allowSimulated: false }, now });
  t.false(verdict.verified);
  t.true(verdict.reasons.some((r) => r.code === 'SIMULATED_NOT_ALLOWED'), JSON.stringify(verdict.reasons));
});

test('a tampered evidence extension is refused: the self-signature no longer verifies', (t) => {
  // Flip one character inside the evidence JSON (the "gpus" member name's first letter).
  const tampered = replaced(good.der, '"gpus"', '"Gpus"');
  t.is(codeOf(() => parseRaTlsCertificate(tampered)), 'SIGNATURE_INVALID');
  t.false(checkCertificate(tampered, { policy, now }).verdict.verified);
});

test('a certificate re-signed after its evidence was changed is refused by the evidence check itself', async (t) => {
  const evidence = await evidenceFor(identity, raTlsNonce(notBefore));
  const report = Buffer.from((evidence.cpu as { report: string }).report, 'base64');
  report[0x50] = report[0x50]! ^ 0xff; // a byte of the SNP report's signed body
  const cert = await certificateOf(identity, { ...evidence, cpu: { ...evidence.cpu, report: report.toString('base64') } as EvidenceBundle['cpu'] });
  t.truthy(parseRaTlsCertificate(cert.der));
  const { verdict } = checkCertificate(cert.der, { policy, now });
  t.false(verdict.verified);
  t.true(verdict.reasons.length > 0);
});

test('a certificate whose key is not the key the evidence binds is refused (BINDING_MISMATCH)', async (t) => {
  // Evidence made by the attested identity, certificate made and signed by another key claiming it.
  const evidence = await evidenceFor(identity, raTlsNonce(notBefore));
  const other = AttesterIdentity.generate();
  t.throws(() => buildRaTlsCertificate({ publicKey: other.publicKey, sign: (tbs) => other.sign(tbs), evidence, notBefore, notAfter }), { message: /another key/ });
  // A forger does not use our builder: the same evidence relabelled with the forger's key.
  const forged = buildRaTlsCertificate({ publicKey: other.publicKey, sign: (tbs) => other.sign(tbs), evidence: { ...evidence, publicKey: other.publicKeyHex }, notBefore, notAfter });
  const { verdict } = checkCertificate(forged.der, { policy, now });
  t.false(verdict.verified);
  t.true(verdict.reasons.some((r) => r.code === 'BINDING_MISMATCH'), JSON.stringify(verdict.reasons));
});

test('evidence made for another time, relabelled with the certificate\'s nonce, is refused (BINDING_MISMATCH)', async (t) => {
  const evidence = await evidenceFor(identity, raTlsNonce(new Date(notBefore.getTime() - 3_600_000)));
  const cert = buildRaTlsCertificate({ publicKey: identity.publicKey, sign: (tbs) => identity.sign(tbs), evidence: { ...evidence, nonce: Buffer.from(raTlsNonce(notBefore)).toString('hex') }, notBefore, notAfter });
  const { verdict } = checkCertificate(cert.der, { policy, now });
  t.false(verdict.verified);
  t.true(verdict.reasons.some((r) => r.code === 'BINDING_MISMATCH'), JSON.stringify(verdict.reasons));
});

test('an expired certificate, or one not yet valid, is refused', (t) => {
  const late = checkCertificate(good.der, { policy, now: new Date(notAfter.getTime() + 1000) });
  t.true(late.verdict.reasons.some((r) => r.code === 'CERT_EXPIRED'));
  const early = checkCertificate(good.der, { policy, now: new Date(notBefore.getTime() - 1000) });
  t.true(early.verdict.reasons.some((r) => r.code === 'CERT_NOT_YET_VALID'));
});

test("a certificate older than the policy's evidence age passes the certificate check; the age limit holds for the answer to the client's nonce", async (t) => {
  // The chart's default policy allows 300 s; this certificate's evidence is 360 s old, within its validity.
  const aged = { ...policy, maxEvidenceAgeSeconds: 300 };
  const at = new Date(notBefore.getTime() + 360_000);
  const { verdict, certificate } = checkCertificate(good.der, { policy: aged, now: at });
  t.deepEqual(verdict.reasons, []);
  // The fresh answer: made for the client's nonce now, it passes; the same answer judged as if the nonce
  // had been drawn 400 s ago is too old.
  const nonce = new Uint8Array(randomBytes(32));
  const answer = JSON.stringify(await evidenceFor(identity, nonce));
  t.deepEqual(checkFreshEvidence(answer, nonce, at, certificate!, { policy: aged, now: at }).reasons, []);
  const stale = checkFreshEvidence(answer, nonce, new Date(at.getTime() - 400_000), certificate!, { policy: aged, now: at });
  t.true(stale.reasons.some((r) => r.code === 'EVIDENCE_TOO_OLD'), JSON.stringify(stale.reasons));
});

test('a certificate without the evidence extension is not an RA-TLS certificate (MALFORMED_EVIDENCE)', (t) => {
  // Rename the extension (last arc .1 → .2) inside the TBSCertificate and sign it again with the same key,
  // so only the missing extension is wrong.
  const [tbs, algorithm] = children(readSingle(good.der, 0x30));
  const at = oidOffset(tbs!.raw, RA_TLS_EVIDENCE_OID);
  t.true(at >= 0);
  const patched = Buffer.from(tbs!.raw);
  patched[at + 1 + patched[at + 1]!] = 0x02;
  const der = derSequence(patched, algorithm!.raw, derBitString(identity.sign(patched)));
  t.is(codeOf(() => parseRaTlsCertificate(der)), 'MALFORMED_EVIDENCE');
  t.regex(checkCertificate(der, { policy, now }).verdict.reasons[0]!.message, /no evidence extension/);
});

test('random bytes are not a certificate (MALFORMED_EVIDENCE), and the check never throws', (t) => {
  const { verdict } = checkCertificate(new Uint8Array(randomBytes(300)), { policy, now });
  t.false(verdict.verified);
  t.is(verdict.reasons[0]?.code, 'MALFORMED_EVIDENCE');
});
