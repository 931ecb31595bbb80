// The RA-TLS certificate a replica serves: self-issued, its key the replica's attested Ed25519 identity
// key, the replica's evidence bundle in an X.509 extension. The gateway builds it; the client
// (cli/src/client/) parses it with the same module, so both sides read one definition of the format.
//
// Format (version 1):
//
//   Certificate (RFC 5280, v3), signatureAlgorithm and the key's algorithm id-Ed25519 (1.3.101.112,
//   RFC 8410); subject = issuer = CN=chrysalis-replica; self-signed by the identity key; a random
//   16-byte serial; keyUsage digitalSignature (critical); extKeyUsage serverAuth.
//
//   Extension RA_TLS_EVIDENCE_OID (non-critical, so ordinary TLS tooling can still read the certificate):
//     extnValue = DER OCTET STRING containing a DER UTF8String whose text is the JSON evidence bundle the
//     attestation service verifies, {"nonce","publicKey","cpu","gpus"} (operator/src/attestation/bundle.ts
//     EvidenceBundle; binaries base64, nonce and key hex), with
//       nonce     = SHA-256("chrysalis-ra-tls-v1" ‖ notBefore as 8-byte big-endian Unix seconds)
//       publicKey = the certificate's own Ed25519 key (raw 32 bytes, hex)
//     so report_data = SHA-512(nonce ‖ publicKey) exactly as for the service's challenges. When the GPU
//     reports would make the certificate larger than MAX_RA_TLS_CERTIFICATE_BYTES, gpus is [] (the CPU
//     report still binds the key); the client-nonce answer carries them.
//
// Why the nonce comes from notBefore: a TLS client cannot see the nonce the service issued, and cannot
// choose the nonce of a certificate made before it connected; a nonce derived from the certificate's own
// start time is one it can recompute. It shows the evidence was made no earlier than notBefore (a time
// the replica chose), not that the TEE is alive now: for that the client asks for evidence over a nonce
// of its own choosing on the same connection (evidence-endpoint.ts), and applies the policy's
// maxEvidenceAgeSeconds to that answer. Certificates are short-lived and re-issued (gateway.ts).
//
// The OIDs sit under 2.25.206541952249028145412590670932459874059, the UUID arc (ITU-T X.667) of the
// UUID 9b628876-ad31-4b18-8bcb-39a525fb670b, made for this project. An arc under 2.25 needs no
// registration and no one else will ever hold it; it is private to Chrysalis, not a registered or shared
// RA-TLS OID (the IETF and the Confidential Computing Consortium have not settled one). A future format
// gets a new OID under the same arc: a reader never guesses a version.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { fromHex } from '../../../operator/src/attestation/bytes.js';
import type { EvidenceBundle } from '../../../operator/src/attestation/bundle.js';
import { DER, readSingle } from '../../../operator/src/attestation/der.js';
import { AttestationError } from '../../../operator/src/attestation/reasons.js';
import { derBitString, derExplicit, derInteger, derOctetString, derOid, derSequence, derSet, derTime, derUtf8String } from '../../../operator/src/attestation/simulated/der-encode.js';
import { parseStrictJson } from '../../../operator/src/attestation/strict-json.js';
import { OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, isSelfSigned, parseCertificate } from '../../../operator/src/attestation/x509.js';

/**
 * The largest certificate the gateway serves. OpenSSL clients (node:tls, curl, Python) refuse a peer
 * certificate message over 100 KiB by default (SSL_MAX_CERT_LIST_DEFAULT) and node:tls cannot raise it;
 * a bundle with many GPUs passes that (each GPU's SPDM report and device chain is about 9 KiB in the
 * JSON), so the gateway then leaves the GPU reports out of the certificate (gpus: []). The client-nonce
 * answer always carries every GPU, and the client requires it.
 */
export const MAX_RA_TLS_CERTIFICATE_BYTES = 96 * 1024;

/** Chrysalis's private OID arc: the UUID arc 2.25.<UUID as an integer> (see the header). */
export const CHRYSALIS_OID_ARC = '2.25.206541952249028145412590670932459874059';
/** The RA-TLS evidence extension, format version 1 (arc .1 = RA-TLS, .1.1 = its evidence bundle v1). */
export const RA_TLS_EVIDENCE_OID = `${CHRYSALIS_OID_ARC}.1.1`;
/** Domain separation of the certificate nonce: no other hash in the protocol starts with these bytes. */
export const RA_TLS_NONCE_DOMAIN = 'chrysalis-ra-tls-v1';

const OID_ED25519 = '1.3.101.112';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_COMMON_NAME = '2.5.4.3';
/** Extensions a reader understands; any other one marked critical makes the certificate unusable. */
const KNOWN_EXTENSIONS = new Set([RA_TLS_EVIDENCE_OID, OID_KEY_USAGE, OID_EXT_KEY_USAGE, OID_BASIC_CONSTRAINTS]);
export const RA_TLS_SUBJECT_CN = 'chrysalis-replica';

/** nonce = SHA-256("chrysalis-ra-tls-v1" ‖ notBefore seconds, 8 bytes big-endian). */
export function raTlsNonce(notBefore: Date): Uint8Array {
  const ms = notBefore.getTime();
  if (!Number.isFinite(ms) || ms % 1000 !== 0) throw new Error('raTlsNonce: notBefore must be a whole second');
  const seconds = Buffer.alloc(8);
  seconds.writeBigUInt64BE(BigInt(ms / 1000));
  return new Uint8Array(createHash('sha256').update(RA_TLS_NONCE_DOMAIN).update(seconds).digest());
}

/** The raw 32-byte Ed25519 key as SubjectPublicKeyInfo (RFC 8410: AlgorithmIdentifier without parameters). */
function ed25519Spki(publicKey: Uint8Array): Uint8Array {
  return derSequence(derSequence(derOid(OID_ED25519)), derBitString(publicKey));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? derSequence(derOid(oid), Uint8Array.of(0x01, 0x01, 0xff), derOctetString(value)) : derSequence(derOid(oid), derOctetString(value));
}

export interface RaTlsCertificateInput {
  /** The identity's raw Ed25519 public key. */
  publicKey: Uint8Array;
  /** Signs the TBSCertificate with the identity key (AttesterIdentity.sign). */
  sign: (tbs: Uint8Array) => Uint8Array;
  /** The evidence bundle; its nonce must be raTlsNonce(notBefore) and its publicKey the identity's. */
  evidence: EvidenceBundle;
  notBefore: Date;
  notAfter: Date;
  /** Serial bytes (default 16 random bytes). */
  serial?: Uint8Array;
}

/** Builds the RA-TLS certificate (DER and PEM). Refuses evidence that does not fit the certificate. */
export function buildRaTlsCertificate(input: RaTlsCertificateInput): { der: Uint8Array; pem: string } {
  const keyHex = Buffer.from(input.publicKey).toString('hex');
  if (input.publicKey.length !== 32) throw new Error('buildRaTlsCertificate: the identity key must be a raw 32-byte Ed25519 key');
  if (input.evidence.publicKey.toLowerCase() !== keyHex) throw new Error('buildRaTlsCertificate: the evidence binds another key than the certificate would carry');
  const expectedNonce = Buffer.from(raTlsNonce(input.notBefore)).toString('hex');
  if (input.evidence.nonce?.toLowerCase() !== expectedNonce) throw new Error('buildRaTlsCertificate: the evidence nonce is not raTlsNonce(notBefore)');
  if (input.notAfter.getTime() <= input.notBefore.getTime()) throw new Error('buildRaTlsCertificate: notAfter must be after notBefore');
  const serial = Uint8Array.from(input.serial ?? randomBytes(16));
  serial[0]! &= 0x7f; // a positive INTEGER
  if (serial.every((b) => b === 0)) serial[serial.length - 1] = 1;
  const algorithm = derSequence(derOid(OID_ED25519));
  const name = derSequence(derSet(derSequence(derOid(OID_COMMON_NAME), derUtf8String(RA_TLS_SUBJECT_CN))));
  const evidenceJson = JSON.stringify({ nonce: input.evidence.nonce, publicKey: input.evidence.publicKey, cpu: input.evidence.cpu, gpus: input.evidence.gpus });
  const tbs = derSequence(
    derExplicit(0, derInteger(2)),
    derInteger(serial),
    algorithm,
    name,
    derSequence(derTime(input.notBefore), derTime(input.notAfter)),
    name,
    ed25519Spki(input.publicKey),
    derExplicit(
      3,
      derSequence(
        extension(OID_KEY_USAGE, true, derBitString(Uint8Array.of(0x80), 7)), // digitalSignature
        extension(OID_EXT_KEY_USAGE, false, derSequence(derOid(OID_SERVER_AUTH))),
        extension(RA_TLS_EVIDENCE_OID, false, derUtf8String(evidenceJson)),
      ),
    ),
  );
  const der = derSequence(tbs, algorithm, derBitString(input.sign(tbs)));
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return { der, pem: `-----BEGIN CERTIFICATE-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n` };
}

/** What a parsed RA-TLS certificate says. Nothing here is verified against a policy yet (cli/src/client/ does that). */
export interface RaTlsCertificate {
  /** The certificate's Ed25519 key, raw 32 bytes: the key the TLS handshake proved the peer holds. */
  publicKey: Uint8Array;
  publicKeyHex: string;
  /** The evidence bundle from the extension: its publicKey is the certificate's and its nonce raTlsNonce(notBefore). */
  evidence: EvidenceBundle;
  /** raTlsNonce(notBefore): the nonce to verify the evidence with. */
  nonce: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  fingerprint: string;
}

function refuse(code: 'MALFORMED_EVIDENCE' | 'BINDING_MISMATCH' | 'NONCE_MISMATCH' | 'SIGNATURE_INVALID', message: string): never {
  throw new AttestationError(code, `RA-TLS: ${message}`);
}

/** The raw key of an Ed25519 KeyObject, or undefined for any other kind of key. */
export function rawEd25519(key: KeyObject): Uint8Array | undefined {
  if (key.asymmetricKeyType !== 'ed25519') return undefined;
  const x = key.export({ format: 'jwk' }).x;
  return typeof x === 'string' ? new Uint8Array(Buffer.from(x, 'base64url')) : undefined;
}

/**
 * The evidence bundle in JSON text (the extension's, or an answer of the evidence endpoint), read with the
 * strict JSON reader: exactly the members nonce, publicKey, cpu and gpus, nonce and key 32 bytes of hex.
 * Throws AttestationError (MALFORMED_EVIDENCE).
 */
export function evidenceBundleFrom(text: string): EvidenceBundle {
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (err) {
    refuse('MALFORMED_EVIDENCE', `the evidence is not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse('MALFORMED_EVIDENCE', 'the evidence is not a JSON object');
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!['nonce', 'publicKey', 'cpu', 'gpus'].includes(key)) refuse('MALFORMED_EVIDENCE', `the evidence has an unknown member "${key}"`);
  }
  if (typeof obj.nonce !== 'string' || !/^[0-9a-f]{64}$/i.test(obj.nonce)) refuse('MALFORMED_EVIDENCE', 'the evidence nonce is not 32 bytes of hex');
  if (typeof obj.publicKey !== 'string' || !/^[0-9a-f]{64}$/i.test(obj.publicKey)) refuse('MALFORMED_EVIDENCE', 'the evidence publicKey is not a 32-byte key in hex');
  if (typeof obj.cpu !== 'object' || obj.cpu === null || Array.isArray(obj.cpu)) refuse('MALFORMED_EVIDENCE', 'the evidence has no cpu object');
  if (!Array.isArray(obj.gpus)) refuse('MALFORMED_EVIDENCE', 'the evidence gpus is not a list');
  return { nonce: obj.nonce, publicKey: obj.publicKey, cpu: obj.cpu as EvidenceBundle['cpu'], gpus: obj.gpus as EvidenceBundle['gpus'] };
}

/**
 * Reads an RA-TLS certificate (DER) and checks what the format itself promises: an Ed25519 key, a valid
 * self-signature, no unknown critical extension, exactly one evidence extension with a well-formed
 * bundle, the bundle's key equal to the certificate's key (BINDING_MISMATCH otherwise) and its nonce
 * equal to raTlsNonce(notBefore) (NONCE_MISMATCH otherwise). Throws AttestationError; verifying the
 * evidence itself against a policy is the caller's next step.
 */
export function parseRaTlsCertificate(der: Uint8Array): RaTlsCertificate {
  const cert = parseCertificate(der);
  const publicKey = rawEd25519(cert.publicKey);
  if (!publicKey || publicKey.length !== 32) refuse('MALFORMED_EVIDENCE', `the certificate's key is ${cert.publicKey.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  if (!isSelfSigned(cert)) refuse('SIGNATURE_INVALID', 'the certificate is not self-signed by its own key');
  const unknownCritical = cert.criticalExtensions.filter((oid) => !KNOWN_EXTENSIONS.has(oid));
  if (unknownCritical.length) refuse('MALFORMED_EVIDENCE', `the certificate marks unknown extension(s) ${unknownCritical.join(', ')} critical`);
  const value = cert.extensions.get(RA_TLS_EVIDENCE_OID);
  if (!value) refuse('MALFORMED_EVIDENCE', `the certificate carries no evidence extension ${RA_TLS_EVIDENCE_OID}: the peer is not a Chrysalis RA-TLS replica`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readSingle(value, DER.UTF8_STRING).content);
  } catch (err) {
    refuse('MALFORMED_EVIDENCE', `the evidence extension is not one DER UTF8String (${(err as Error).message})`);
  }
  const evidence = evidenceBundleFrom(text);
  const publicKeyHex = Buffer.from(publicKey).toString('hex');
  if (evidence.publicKey.toLowerCase() !== publicKeyHex) {
    refuse('BINDING_MISMATCH', `the evidence binds key ${evidence.publicKey.slice(0, 16)}…, the certificate (the key the TLS peer proved it holds) is ${publicKeyHex.slice(0, 16)}…`);
  }
  let nonce: Uint8Array;
  try {
    nonce = raTlsNonce(cert.notBefore);
  } catch {
    refuse('MALFORMED_EVIDENCE', 'the certificate notBefore is not a whole second');
  }
  if (Buffer.compare(fromHex(evidence.nonce!, 'evidence nonce'), nonce) !== 0) {
    refuse('NONCE_MISMATCH', `the evidence nonce is not SHA-256("${RA_TLS_NONCE_DOMAIN}" ‖ notBefore ${cert.notBefore.toISOString()})`);
  }
  return { publicKey, publicKeyHex, evidence, nonce, notBefore: cert.notBefore, notAfter: cert.notAfter, fingerprint: cert.fingerprint };
}
