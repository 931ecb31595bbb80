// Revocation of an SEV-SNP chain by AMD CRLs (sev-snp/revocation.ts) in the verifier: when CRLs are asked
// for, the ARK's CRL must be there, validly signed by the ARK and current; a listed ASK (by the ARK's CRL)
// or VCEK (by a CRL its ASK signed) is CERT_REVOKED. The chain is the simulated TEE's (root → ASK → VCEK,
// trusted through the policy), since no CRL signed by AMD's real ARK is in test/vectors (see
// test/vectors/sev-snp/SOURCE.md); AMD signs its CRLs with RSASSA-PSS, checked below on a CRL signed with
// a locally made RSA key.
import test from 'ava';
import { constants, generateKeyPairSync, sign } from 'node:crypto';
import { crlSignatureValid, parseCrl } from '../../operator/src/attestation/crl.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { derBitString, derExplicit, derInteger, derOid, derSequence, derTime } from '../../operator/src/attestation/simulated/der-encode.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { createRoot, type IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { parseCertificate, type ParsedCertificate } from '../../operator/src/attestation/x509.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now });
const policy = tee.policy();
const day = 86_400_000;

function crl(issuer: IssuedCertificate, options: { revoke?: IssuedCertificate[]; thisUpdate?: Date; nextUpdate?: Date } = {}): Uint8Array {
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const thisUpdate = options.thisUpdate ?? new Date(now.getTime() - day);
  const revoked = (options.revoke ?? []).map((c) => derSequence(derInteger(Buffer.from(parseCertificate(c.der).serialHex, 'hex')), derTime(thisUpdate)));
  const tbs = derSequence(
    derInteger(1), alg, parseCertificate(issuer.der).subjectDer, derTime(thisUpdate), derTime(options.nextUpdate ?? new Date(now.getTime() + 7 * day)),
    ...(revoked.length ? [derSequence(...revoked)] : []),
  );
  return derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, issuer.privateKey))));
}

function verify(amdCrls?: Uint8Array[]) {
  const { report, vcek, chainPem } = tee.snpReport({});
  return verifySevSnp({ report, certificates: [vcek], chain: decodeCertificates(chainPem) }, { now, policy, ...(amdCrls ? { amdCrls } : {}) });
}
const codes = (v: ReturnType<typeof verify>) => [...new Set(v.reasons.map((r) => r.code))];

test('a current CRL from the ARK that lists nothing of the chain passes', (t) => {
  const v = verify([crl(tee.snp.root)]);
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
});

test('without CRLs asked for, revocation is not checked (the offline verifier)', (t) => {
  t.true(verify().verified);
});

test('an ASK the ARK\'s CRL lists is CERT_REVOKED', (t) => {
  const v = verify([crl(tee.snp.root, { revoke: [tee.snp.ask] })]);
  t.deepEqual(codes(v), ['CERT_REVOKED']);
  t.regex(v.reasons[0]!.message, /SEV-Simulated.*revoked/);
});

test('a VCEK its ASK\'s CRL lists is CERT_REVOKED', (t) => {
  const v = verify([crl(tee.snp.root), crl(tee.snp.ask, { revoke: [tee.snp.vcek] })]);
  t.deepEqual(codes(v), ['CERT_REVOKED']);
  t.regex(v.reasons[0]!.message, /SEV-VCEK/);
});

test('no CRL from the ARK is COLLATERAL_MISSING; a stale, future or forged one is COLLATERAL_INVALID', (t) => {
  t.deepEqual(codes(verify([])), ['COLLATERAL_MISSING']);
  t.deepEqual(codes(verify([crl(tee.snp.ask)])), ['COLLATERAL_MISSING'], 'an ASK CRL does not stand in for the ARK\'s');
  t.deepEqual(codes(verify([crl(tee.snp.root, { thisUpdate: new Date(now.getTime() - 10 * day), nextUpdate: new Date(now.getTime() - day) })])), ['COLLATERAL_INVALID']);
  t.deepEqual(codes(verify([crl(tee.snp.root, { thisUpdate: new Date(now.getTime() + day) })])), ['COLLATERAL_INVALID']);
  const impostor = createRoot([['CN', 'Chrysalis Simulated TEE Root'], ['O', 'Chrysalis Simulated TEE']], tee.validity);
  t.deepEqual(codes(verify([crl(impostor, { revoke: [] })])), ['COLLATERAL_INVALID'], 'the ARK\'s name, another key');
  t.deepEqual(codes(verify([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])])), ['COLLATERAL_INVALID', 'COLLATERAL_MISSING']);
});

test('an RSASSA-PSS CRL (SHA-384, MGF1-SHA-384, salt 48: how AMD\'s ARK signs) verifies; other parameters or another key do not', (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sha384 = derSequence(derOid('2.16.840.1.101.3.4.2.2'));
  const pss = (salt: number, hash = sha384) => derSequence(derOid('1.2.840.113549.1.1.10'), derSequence(derExplicit(0, hash), derExplicit(1, derSequence(derOid('1.2.840.113549.1.1.8'), hash)), derExplicit(2, derInteger(salt))));
  const name = parseCertificate(tee.snp.root.der).subjectDer;
  const signed = (alg: Uint8Array, salt: number) => {
    const tbs = derSequence(derInteger(1), alg, name, derTime(now), derTime(new Date(now.getTime() + day)));
    return parseCrl(derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt })))));
  };
  const ark = { keyUsage: new Set(['cRLSign']), publicKey } as unknown as ParsedCertificate;
  t.true(crlSignatureValid(signed(pss(48), 48), ark));
  t.false(crlSignatureValid(signed(pss(32), 48), ark), 'the salt length the parameters name is the one checked');
  t.false(crlSignatureValid(signed(pss(48, derSequence(derOid('2.16.840.1.101.3.4.2.1'))), 48), ark), 'SHA-256 parameters over a SHA-384 signature');
  const other = { keyUsage: new Set(['cRLSign']), publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey } as unknown as ParsedCertificate;
  t.false(crlSignatureValid(signed(pss(48), 48), other));
  t.false(crlSignatureValid(signed(pss(48), 48), { keyUsage: new Set(['keyCertSign']), publicKey } as unknown as ParsedCertificate), 'no cRLSign');
});
