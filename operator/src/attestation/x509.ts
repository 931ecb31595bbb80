// Certificates as the verifiers need them: node:crypto's X509Certificate for the signature and key
// (OpenSSL handles ECDSA and RSASSA-PSS parameters), plus a DER walk for what node:crypto does not
// expose (raw names, validity, extensions by OID).
//
// Parsing a certificate and checking a certificate's signature are pure functions of their bytes, so
// both are memoised by SHA-256 of the DER. What is cached is "these exact bytes parse to this" and
// "issuer DER X signed subject DER Y": never validity at a time, revocation, or a verdict, which are
// recomputed on every verification.
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { DER, bitStringBytes, children, decodeOid, decodeSmallUnsigned, decodeTime, expectTag, integerBytes, readSingle, type DerNode } from './der.js';
import { AttestationError } from './reasons.js';
import { toHex } from './bytes.js';

export interface ParsedCertificate {
  der: Uint8Array;
  /** SHA-256 of the DER, lowercase hex: identity for pinning and caching. */
  fingerprint: string;
  x509: X509Certificate;
  publicKey: KeyObject;
  subjectDer: Uint8Array;
  issuerDer: Uint8Array;
  /** Human-readable names for messages. */
  subject: string;
  issuer: string;
  subjectCommonName: string | undefined;
  /** The subject's serialNumber attribute (2.5.4.5), used by NVIDIA as a device identifier. */
  subjectSerialNumber: string | undefined;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  /** extnValue (the content of the OCTET STRING) by extension OID. */
  extensions: Map<string, Uint8Array>;
  /** OIDs of the extensions marked critical. */
  criticalExtensions: string[];
  /** basicConstraints (2.5.29.19); undefined when the certificate has none (then it is not a CA). */
  basicConstraints: BasicConstraints | undefined;
  /** keyUsage (2.5.29.15) bit names; undefined when the certificate has none. */
  keyUsage: ReadonlySet<KeyUsage> | undefined;
  /** The signed TBSCertificate bytes. */
  tbs: Uint8Array;
}

export interface BasicConstraints {
  ca: boolean;
  /** pathLenConstraint: how many non-self-issued intermediate CAs may follow this one; undefined = no limit. */
  pathLen: number | undefined;
}

/** RFC 5280 4.2.1.3 KeyUsage bits, in bit order. */
export const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_KEY_USAGE = '2.5.29.15';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SERIAL_NUMBER = '2.5.4.5';
const CACHE_LIMIT = 4096;

const parsedCache = new Map<string, ParsedCertificate>();
const verifiedLinks = new Map<string, true>();

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(key, value);
}

/** Empties the memo caches (benchmarks measure cold and warm paths with it). */
export function clearCertificateCaches(): void {
  parsedCache.clear();
  verifiedLinks.clear();
}

function nameAttribute(name: DerNode, oid: string): string | undefined {
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (type && value && decodeOid(type) === oid) return Buffer.from(value.content).toString('utf8');
    }
  }
  return undefined;
}

function nameText(name: DerNode): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (!type || !value) continue;
      const oid = decodeOid(type);
      const label = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.5': 'serialNumber' }[oid] ?? oid;
      parts.push(`${label}=${Buffer.from(value.content).toString('utf8')}`);
    }
  }
  return parts.join(', ');
}

function malformed(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `certificate ${message}`);
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL } */
function parseBasicConstraints(value: Uint8Array): BasicConstraints {
  const fields = children(readSingle(value, DER.SEQUENCE));
  let i = 0;
  let ca = false;
  if (fields[i]?.tag === DER.BOOLEAN) {
    // DER never encodes a DEFAULT value: an explicit FALSE is another encoding of an absent cA.
    if (fields[i]!.content[0] !== 0xff) malformed('basicConstraints encodes cA FALSE explicitly (not DER)');
    ca = true;
    i++;
  }
  let pathLen: number | undefined;
  if (fields[i]?.tag === DER.INTEGER) pathLen = decodeSmallUnsigned(fields[i++]!);
  if (i !== fields.length) malformed('basicConstraints has unexpected fields');
  if (pathLen !== undefined && !ca) malformed('basicConstraints sets pathLenConstraint without cA');
  return { ca, pathLen };
}

/** KeyUsage ::= BIT STRING, named bits as KEY_USAGE_BITS. */
function parseKeyUsage(value: Uint8Array): Set<KeyUsage> {
  const node = readSingle(value, DER.BIT_STRING);
  const c = node.content;
  if (c.length < 2 || c[0]! > 7 || c.length > 3) malformed('keyUsage is not a 1- or 2-octet BIT STRING');
  const unused = c[0]!;
  if ((c[c.length - 1]! & ((1 << unused) - 1)) !== 0) malformed('keyUsage has bits set in its unused bits');
  const out = new Set<KeyUsage>();
  KEY_USAGE_BITS.forEach((name, bit) => {
    const octet = c[1 + (bit >> 3)];
    if (octet !== undefined && (octet & (0x80 >> (bit & 7))) !== 0) out.add(name);
  });
  if (out.size === 0) malformed('keyUsage asserts no usage');
  return out;
}

function parseUncached(der: Uint8Array, fingerprint: string): ParsedCertificate {
  const cert = readSingle(der, DER.SEQUENCE);
  const [tbsNode, , sigNode] = children(cert);
  const tbs = expectTag(tbsNode, DER.SEQUENCE, 'tbsCertificate');
  bitStringBytes(expectTag(sigNode, DER.BIT_STRING, 'signatureValue'));
  const fields = children(tbs);
  let i = 0;
  if (fields[0]?.tag === 0xa0) i++; // [0] EXPLICIT version
  const serial = expectTag(fields[i++], DER.INTEGER, 'serialNumber');
  i++; // signature AlgorithmIdentifier (OpenSSL checks it against the outer one)
  const issuer = expectTag(fields[i++], DER.SEQUENCE, 'issuer');
  const validity = children(expectTag(fields[i++], DER.SEQUENCE, 'validity'));
  const subject = expectTag(fields[i++], DER.SEQUENCE, 'subject');
  i++; // subjectPublicKeyInfo (read through node:crypto)
  const extensions = new Map<string, Uint8Array>();
  const criticalExtensions: string[] = [];
  for (; i < fields.length; i++) {
    if (fields[i]!.tag !== 0xa3) continue;
    const [list] = children(fields[i]!);
    for (const ext of children(expectTag(list, DER.SEQUENCE, 'extensions'))) {
      // Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
      const parts = children(ext);
      const oid = decodeOid(expectTag(parts[0], DER.OID, 'extnID'));
      if (parts.length === 3) {
        expectTag(parts[1], DER.BOOLEAN, `extension ${oid} critical flag`);
        if (parts[1]!.content[0] !== 0xff) malformed(`extension ${oid} encodes critical FALSE explicitly (not DER)`);
        criticalExtensions.push(oid);
      } else if (parts.length !== 2) {
        malformed(`extension ${oid} is not (extnID, [critical], extnValue)`);
      }
      const value = expectTag(parts[parts.length - 1], DER.OCTET_STRING, 'extnValue');
      if (extensions.has(oid)) throw new AttestationError('MALFORMED_EVIDENCE', `certificate repeats extension ${oid}`);
      extensions.set(oid, value.content);
    }
  }
  const bc = extensions.get(OID_BASIC_CONSTRAINTS);
  const ku = extensions.get(OID_KEY_USAGE);
  const [notBefore, notAfter] = validity;
  if (!notBefore || !notAfter) throw new AttestationError('MALFORMED_EVIDENCE', 'certificate validity is incomplete');
  let x509: X509Certificate;
  let publicKey: KeyObject;
  try {
    x509 = new X509Certificate(der);
    // OpenSSL parses lazily: an unsupported or corrupt key only fails when the key is read.
    publicKey = x509.publicKey;
  } catch (err) {
    throw new AttestationError('MALFORMED_EVIDENCE', `certificate cannot be parsed: ${(err as Error).message}`);
  }
  return {
    der,
    fingerprint,
    x509,
    publicKey,
    subjectDer: subject.raw,
    issuerDer: issuer.raw,
    subject: nameText(subject),
    issuer: nameText(issuer),
    subjectCommonName: nameAttribute(subject, OID_COMMON_NAME),
    subjectSerialNumber: nameAttribute(subject, OID_SERIAL_NUMBER),
    serialHex: toHex(integerBytes(serial)),
    notBefore: decodeTime(notBefore),
    notAfter: decodeTime(notAfter),
    extensions,
    criticalExtensions,
    basicConstraints: bc ? parseBasicConstraints(bc) : undefined,
    keyUsage: ku ? parseKeyUsage(ku) : undefined,
    tbs: tbs.raw,
  };
}

export function fingerprintOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Parses a DER certificate (memoised by fingerprint). Throws AttestationError on malformed input. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const fingerprint = fingerprintOf(der);
  const hit = parsedCache.get(fingerprint);
  if (hit) return hit;
  const parsed = parseUncached(new Uint8Array(der), fingerprint);
  remember(parsedCache, fingerprint, parsed);
  return parsed;
}

/** Whether `subject` names `issuer` as its issuer (exact DER match of the Name, RFC 5280 7.1 simplified). */
export function namesIssuer(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return Buffer.compare(subject.issuerDer, issuer.subjectDer) === 0;
}

/** Whether `issuer`'s key signed `subject` (memoised per exact pair of DERs). */
export function isSignedBy(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  const key = `${issuer.fingerprint}>${subject.fingerprint}`;
  if (verifiedLinks.has(key)) return true;
  let ok = false;
  try {
    ok = subject.x509.verify(issuer.publicKey);
  } catch {
    ok = false;
  }
  if (ok) remember(verifiedLinks, key, true);
  return ok;
}

export function isSelfSigned(cert: ParsedCertificate): boolean {
  return Buffer.compare(cert.issuerDer, cert.subjectDer) === 0 && isSignedBy(cert, cert);
}
