// RFC 5280 path constraints on forged chains built at test time (simulated/test-root.ts): an issuer must
// be a CA with keyCertSign, its pathLenConstraint bounds the CAs below it, a signing leaf must not
// exclude digitalSignature, a CRL signer needs cRLSign, and an unknown critical extension rejects the
// certificate. The real vendor chains satisfy all of it (the *-vectors tests run them).
import test from 'ava';
import { sign } from 'node:crypto';
import { verifyChain, type ChainOptions, type TrustAnchor } from '../../operator/src/attestation/chain.js';
import { crlSignatureValid, parseCrl } from '../../operator/src/attestation/crl.js';
import { derBitString, derBoolean, derInteger, derOid, derSequence, derTime } from '../../operator/src/attestation/simulated/der-encode.js';
import { createRoot, issue, type Extension, type IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';

const validity = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') };
const NOW = new Date('2025-06-01T00:00:00Z');

function basicConstraints(ca: boolean, pathLen?: number): Extension {
  return { oid: '2.5.29.19', critical: true, value: derSequence(...(ca ? [derBoolean(true)] : []), ...(pathLen !== undefined ? [derInteger(pathLen)] : [])) };
}

/** RFC 5280 4.2.1.3, in bit order (spelled out here so the test does not borrow the parser's table). */
const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign'] as const;
type KeyUsage = (typeof KEY_USAGE_BITS)[number];

function keyUsage(...usages: KeyUsage[]): Extension {
  const bits = usages.map((u) => KEY_USAGE_BITS.indexOf(u));
  const top = Math.max(...bits);
  const bytes = new Uint8Array((top >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return { oid: '2.5.29.15', critical: true, value: derBitString(bytes, 7 - (top & 7)) };
}

const CA = (pathLen?: number) => [basicConstraints(true, pathLen), keyUsage('keyCertSign', 'cRLSign')];
const SIGNER = [keyUsage('digitalSignature')];
const UNKNOWN_CRITICAL: Extension = { oid: '1.3.6.1.4.1.55555.1', critical: true, value: derSequence() };

const root = (standardExtensions = CA(), extensions: Extension[] = []) => createRoot([['CN', 'Constraint Test Root']], validity, { standardExtensions, extensions });
const ca = (issuer: IssuedCertificate, cn: string, standardExtensions = CA(), extensions: Extension[] = []) => issue(issuer, [['CN', cn]], validity, { ca: true, standardExtensions, extensions });
const leaf = (issuer: IssuedCertificate, standardExtensions = SIGNER, extensions: Extension[] = []) => issue(issuer, [['CN', 'Signing Leaf']], validity, { ca: false, standardExtensions, extensions });

function check(chain: IssuedCertificate[], anchor: IssuedCertificate, options?: ChainOptions) {
  const anchors: TrustAnchor[] = [{ name: 'test root', cert: parseCertificate(anchor.der), simulated: true }];
  const [first, ...rest] = chain.map((c) => parseCertificate(c.der));
  return verifyChain(first!, rest, anchors, NOW, options);
}

function rejected(t: import('ava').ExecutionContext, result: ReturnType<typeof check>, pattern: RegExp): void {
  t.false(result.ok);
  t.deepEqual(result.reasons.map((r) => r.code), ['CHAIN_UNTRUSTED']);
  t.regex(result.reasons[0]!.message, pattern);
}

test('a well-formed root → intermediate → signing leaf chain verifies (the baseline)', (t) => {
  const r = root(CA(1));
  const i = ca(r, 'Intermediate', CA(0));
  const result = check([leaf(i), i], r, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
  t.true(result.ok, JSON.stringify(result.reasons));
});

test('an intermediate whose keyUsage lacks keyCertSign cannot vouch for a signing certificate', (t) => {
  const r = root();
  const i = ca(r, 'Signing-only CA', [basicConstraints(true), keyUsage('digitalSignature')]);
  rejected(t, check([leaf(i), i], r), /lacks keyCertSign/);
});

test('an intermediate with basicConstraints cA but no keyUsage cannot vouch for a signing certificate', (t) => {
  const r = root();
  const i = ca(r, 'Unrestricted CA', [basicConstraints(true)]);
  rejected(t, check([leaf(i), i], r), /lacks keyCertSign/);
});

test('an end-entity certificate with keyCertSign but cA FALSE cannot issue', (t) => {
  const r = root();
  const i = ca(r, 'End entity', [basicConstraints(false), keyUsage('keyCertSign', 'digitalSignature')]);
  rejected(t, check([leaf(i), i], r), /not a CA certificate/);
});

test('a root with pathLenConstraint 0 cannot have an intermediate CA below it', (t) => {
  const r = root(CA(0));
  const i = ca(r, 'Intermediate');
  rejected(t, check([leaf(i), i], r), /pathLenConstraint/);
  t.true(check([leaf(r)], r).ok, 'the root may still sign a leaf directly');
});

test('an intermediate with pathLenConstraint 0 cannot have another intermediate CA below it', (t) => {
  const r = root();
  const i1 = ca(r, 'Intermediate 1', CA(0));
  const i2 = ca(i1, 'Intermediate 2');
  rejected(t, check([leaf(i2), i2, i1], r), /"Intermediate 1" allows 0 intermediate/);
});

test('pathLenConstraint 1 allows one intermediate CA and refuses two', (t) => {
  const r = root(CA(1));
  const i1 = ca(r, 'Intermediate 1');
  t.true(check([leaf(i1), i1], r).ok);
  const i2 = ca(i1, 'Intermediate 2');
  rejected(t, check([leaf(i2), i2, i1], r), /allows 1 intermediate CA\(s\) below it \(pathLenConstraint\), the path has 2/);
});

test('a self-issued intermediate (key rollover) does not count against pathLenConstraint', (t) => {
  const r = root(CA(1));
  const old = ca(r, 'Rolled CA');
  const rolled = ca(old, 'Rolled CA'); // same name, new key: self-issued
  t.true(check([leaf(rolled), rolled, old], r).ok);
});

test('a signing leaf whose keyUsage lacks digitalSignature does not sign evidence', (t) => {
  const r = root();
  rejected(t, check([leaf(r, [keyUsage('keyEncipherment')])], r), /keyUsage without digitalSignature/);
});

test('a leaf without keyUsage passes only where the family does not require one', (t) => {
  const r = root();
  const bare = leaf(r, []);
  t.true(check([bare], r).ok, 'AMD VCEKs carry no keyUsage');
  rejected(t, check([bare], r, { leafKeyUsage: { usage: 'digitalSignature', required: true } }), /has no keyUsage/);
});

test('an unknown critical extension on the leaf rejects it; the same extension non-critical does not', (t) => {
  const r = root();
  rejected(t, check([leaf(r, SIGNER, [UNKNOWN_CRITICAL])], r), /critical extension\(s\) 1\.3\.6\.1\.4\.1\.55555\.1/);
  t.true(check([leaf(r, SIGNER, [{ ...UNKNOWN_CRITICAL, critical: false }])], r).ok);
});

test('an unknown critical extension on an intermediate rejects the path', (t) => {
  const r = root();
  const i = ca(r, 'Intermediate', CA(), [UNKNOWN_CRITICAL]);
  rejected(t, check([leaf(i), i], r), /critical extension/);
});

test('a root with critical nameConstraints (not enforced here) is not silently trusted', (t) => {
  const r = root(CA(), [{ oid: '2.5.29.30', critical: true, value: derSequence() }]);
  rejected(t, check([leaf(r)], r), /critical extension\(s\) 2\.5\.29\.30/);
});

test('basicConstraints with cA FALSE spelled out is not DER (DEFAULT values are omitted) and is refused', (t) => {
  const r = root();
  const spelledOut = issue(r, [['CN', 'x']], validity, { ca: false, standardExtensions: [{ oid: '2.5.29.19', critical: true, value: derSequence(derBoolean(false)) }, ...SIGNER] });
  t.throws(() => parseCertificate(spelledOut.der), { message: /cA FALSE explicitly/ });
  const omitted = issue(r, [['CN', 'x']], validity, { ca: false, standardExtensions: [basicConstraints(false), ...SIGNER] });
  t.deepEqual(parseCertificate(omitted.der).basicConstraints, { ca: false, pathLen: undefined });
});

test('a keyUsage asserting nothing, or with bits set past its length, is malformed', (t) => {
  const r = root();
  const empty = leaf(r, [{ oid: '2.5.29.15', critical: true, value: derBitString(new Uint8Array([0x00]), 7) }]);
  t.throws(() => parseCertificate(empty.der), { message: /asserts no usage|unused bits/ });
  const dirty = leaf(r, [{ oid: '2.5.29.15', critical: true, value: derBitString(new Uint8Array([0x81]), 7) }]);
  t.throws(() => parseCertificate(dirty.der), { message: /unused bits/ });
});

function crlBy(issuer: IssuedCertificate): Uint8Array {
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const tbs = derSequence(derInteger(1), alg, parseCertificate(issuer.der).subjectDer, derTime(validity.notBefore), derTime(validity.notAfter));
  return derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, issuer.privateKey))));
}

test('a CRL signed by a CA whose keyUsage lacks cRLSign is not a valid CRL of that CA', (t) => {
  const r = root();
  const signsCrls = ca(r, 'CRL issuer');
  t.true(crlSignatureValid(parseCrl(crlBy(signsCrls)), parseCertificate(signsCrls.der)));
  const certsOnly = ca(r, 'Certificates only', [basicConstraints(true), keyUsage('keyCertSign')]);
  t.false(crlSignatureValid(parseCrl(crlBy(certsOnly)), parseCertificate(certsOnly.der)));
});
