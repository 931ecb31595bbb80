// Which CRL decides revocation: of the CRLs an issuer validly signed, the newest (an older one that is
// still current may predate a revocation), and never one with a critical extension (a delta,
// partitioned or indirect CRL read as complete would hide revocations).
import test from 'ava';
import { sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { isRevoked, newestCrlOf, parseCrl } from '../../operator/src/attestation/crl.js';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { derBoolean, derExplicit, derInteger, derOctetString, derOid, derSequence, derTime, derBitString } from '../../operator/src/attestation/simulated/der-encode.js';
import { createRoot, issue, type IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { collateralFromFiles } from '../../operator/src/attestation/tdx/collateral.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { codes, readVector, TDX_TIME, vectorPath } from './vectors.js';

const validity = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') };
const ca = createRoot([['CN', 'CRL Test CA']], validity);
const leaf = issue(ca, [['CN', 'Revocable Leaf']], validity, { ca: false });

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
}

function crl(issuer: IssuedCertificate, thisUpdate: string, options: { revoke?: IssuedCertificate[]; entryExtensions?: Uint8Array[]; extensions?: Uint8Array[] } = {}): Uint8Array {
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const revoked = (options.revoke ?? []).map((c) =>
    derSequence(derInteger(Buffer.from(parseCertificate(c.der).serialHex, 'hex')), derTime(new Date(thisUpdate)), ...(options.entryExtensions ? [derSequence(...options.entryExtensions)] : [])),
  );
  const tbs = derSequence(
    derInteger(1),
    alg,
    parseCertificate(issuer.der).subjectDer,
    derTime(new Date(thisUpdate)),
    derTime(new Date('2029-01-01T00:00:00Z')),
    ...(revoked.length ? [derSequence(...revoked)] : []),
    derExplicit(0, derSequence(extension('2.5.29.20', false, derInteger(1)), ...(options.extensions ?? []))),
  );
  return derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, issuer.privateKey))));
}

test('of two current CRLs from one issuer the newer decides, whatever order they come in', (t) => {
  const older = parseCrl(crl(ca, '2025-01-01T00:00:00Z'));
  const newer = parseCrl(crl(ca, '2025-03-01T00:00:00Z', { revoke: [leaf] }));
  const issuer = parseCertificate(ca.der);
  for (const list of [[older, newer], [newer, older]]) {
    const chosen = newestCrlOf(list, issuer);
    t.is(chosen, newer);
    t.true(isRevoked(chosen!, parseCertificate(leaf.der)), 'the revocation in the newer CRL is seen');
  }
});

test('a CRL another key signed under the same issuer name is never chosen', (t) => {
  const impostor = createRoot([['CN', 'CRL Test CA']], validity);
  const forged = parseCrl(crl(impostor, '2026-01-01T00:00:00Z'));
  const genuine = parseCrl(crl(ca, '2025-03-01T00:00:00Z', { revoke: [leaf] }));
  t.is(newestCrlOf([forged, genuine], parseCertificate(ca.der)), genuine);
});

test('a delta CRL (critical deltaCRLIndicator) is refused, not read as a complete CRL', (t) => {
  const delta = crl(ca, '2025-03-01T00:00:00Z', { extensions: [extension('2.5.29.27', true, derInteger(1))] });
  const err = t.throws(() => parseCrl(delta), { instanceOf: AttestationError });
  t.is(err!.code, 'COLLATERAL_INVALID');
  t.regex(err!.message, /critical extension 2\.5\.29\.27/);
});

test('a partitioned CRL (critical issuingDistributionPoint) is refused', (t) => {
  const partial = crl(ca, '2025-03-01T00:00:00Z', { extensions: [extension('2.5.29.28', true, derSequence())] });
  t.throws(() => parseCrl(partial), { instanceOf: AttestationError, message: /2\.5\.29\.28/ });
});

test('an indirect CRL entry (critical certificateIssuer) is refused', (t) => {
  const indirect = crl(ca, '2025-03-01T00:00:00Z', { revoke: [leaf], entryExtensions: [extension('2.5.29.29', true, derSequence())] });
  t.throws(() => parseCrl(indirect), { instanceOf: AttestationError, message: /CRL entry .* critical extension 2\.5\.29\.29/ });
});

test('non-critical CRL and entry extensions (CRL number, reason code) are fine', (t) => {
  const withReason = crl(ca, '2025-03-01T00:00:00Z', { revoke: [leaf], entryExtensions: [extension('2.5.29.21', false, Uint8Array.of(0x0a, 0x01, 0x01))] });
  t.true(isRevoked(parseCrl(withReason), parseCertificate(leaf.der)));
});

test('TDX: a stale 2023 PCK CRL listed before the current one does not decide (the current one does)', (t) => {
  const dir = vectorPath('tdx', 'attestation-rs');
  const files = readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${dir}/${name}`)) }));
  const stale = { name: 'pckcrl-2023', bytes: readVector('tdx', 'go-tdx-guest/pckcrl') };
  const collateral = collateralFromFiles([stale, ...files]);
  t.is(collateral.crls![0], stale.bytes);
  const v = verifyTdx({ quote: readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat'), collateral }, { now: TDX_TIME });
  t.deepEqual(codes(v), []);
});
