// OCSP (RFC 6960) as the verifier needs it: a DER request for one or more certificates (CertID: the hash of
// the issuer's name, of the issuer's public key, and the serial number; an optional nonce extension), and
// the response read and judged. A response is used only when its BasicOCSPResponse signature verifies
// with the certificate's issuer itself, or with a delegated responder certificate that the issuer signed,
// that carries id-kp-OCSPSigning and is valid at the verification time (RFC 6960 4.2.2.2); the
// responderID must name the signer. It must cover the certificate, be current (thisUpdate ≤ now ≤
// nextUpdate; a response without nextUpdate cannot be judged current and is refused) and the newest
// such response decides. NVIDIA's responder (ocsp.ndis.nvidia.com) answers SHA-384 CertIDs, signs with
// ECDSA P-384 through a responder certificate it includes, and echoes a request nonce in
// responseExtensions.
import { createHash, verify as verifySignature } from 'node:crypto';
import { bytesEqual, toHex } from './bytes.js';
import { bitStringBytes, children, decodeOid, decodeTime, DER, expectTag, integerBytes, readSingle, type DerNode } from './der.js';
import { AttestationError } from './reasons.js';
import { isSignedBy, namesIssuer, parseCertificate, type ParsedCertificate } from './x509.js';

export type OcspHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const HASH_OIDS: Record<OcspHash, string> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};
const HASH_BY_OID = new Map(Object.entries(HASH_OIDS).map(([h, oid]) => [oid, h as OcspHash]));

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA512
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

export const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
export const OID_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';
export const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

export interface CertId {
  hash: OcspHash;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** Lowercase hex without leading zeros. */
  serial: string;
}

export type CertStatus = 'good' | 'revoked' | 'unknown';

export interface SingleResponse {
  certId: CertId;
  status: CertStatus;
  revokedAt?: Date;
  /** CRLReason (RFC 5280 5.3.1), e.g. 6 = certificateHold. */
  revocationReason?: number;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface ParsedOcspResponse {
  der: Uint8Array;
  producedAt: Date;
  responderName?: Uint8Array;
  responderKeyHash?: Uint8Array;
  responses: SingleResponse[];
  /** The nonce in responseExtensions, when the responder echoed one. */
  nonce?: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  /** The certificates the responder included (DER): a delegated responder's first. */
  certs: Uint8Array[];
}

function invalid(message: string): never {
  throw new AttestationError('COLLATERAL_INVALID', `OCSP response: ${message}`);
}

function stripSerial(bytes: Uint8Array): string {
  return toHex(bytes).replace(/^0+(?=.)/, '');
}

function digest(hash: OcspHash, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(hash).update(bytes).digest());
}

/** The subjectPublicKey BIT STRING's bytes (what issuerKeyHash and a byKey responderID hash). */
export function subjectPublicKeyBytes(cert: ParsedCertificate): Uint8Array {
  const spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
  const [, key] = children(readSingle(spki, DER.SEQUENCE));
  return bitStringBytes(expectTag(key, DER.BIT_STRING, 'subjectPublicKey'));
}

export function certIdFor(cert: ParsedCertificate, issuer: ParsedCertificate, hash: OcspHash = 'sha384'): CertId {
  return { hash, issuerNameHash: digest(hash, issuer.subjectDer), issuerKeyHash: digest(hash, subjectPublicKeyBytes(issuer)), serial: cert.serialHex.replace(/^0+(?=.)/, '') };
}

/** A string that identifies a CertID (the cache's key). */
export function certIdKey(id: CertId): string {
  return `${id.hash}:${toHex(id.issuerNameHash)}:${toHex(id.issuerKeyHash)}:${id.serial}`;
}

// --- request -------------------------------------------------------------------------------------

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len: number[] = [];
  if (n < 0x80) len.push(n);
  else {
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    len.unshift(0x80 | len.length);
  }
  return new Uint8Array(Buffer.concat([Uint8Array.of(tag, ...len), content]));
}

const seq = (...items: Uint8Array[]) => tlv(0x30, new Uint8Array(Buffer.concat(items)));

function oid(text: string): Uint8Array {
  const arcs = text.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift((v & 0x7f) | (chunk.length ? 0x80 : 0));
      v = Math.floor(v / 128);
    } while (v > 0);
    out.push(...chunk);
  }
  return tlv(DER.OID, Uint8Array.from(out));
}

function serialInteger(hex: string): Uint8Array {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return tlv(DER.INTEGER, new Uint8Array(bytes));
}

export function encodeCertId(id: CertId): Uint8Array {
  return seq(seq(oid(HASH_OIDS[id.hash]), Uint8Array.of(DER.NULL, 0)), tlv(DER.OCTET_STRING, id.issuerNameHash), tlv(DER.OCTET_STRING, id.issuerKeyHash), serialInteger(id.serial));
}

/**
 * OCSPRequest { tbsRequest { requestList, [2] requestExtensions { nonce } } }, unsigned. The nonce
 * extension's value is an OCTET STRING holding the nonce (RFC 8954); it is not marked critical, so a
 * responder that does not support nonces still answers.
 */
export function buildOcspRequest(ids: readonly CertId[], nonce?: Uint8Array): Uint8Array {
  if (ids.length === 0) throw new Error('an OCSP request names at least one certificate');
  const list = seq(...ids.map((id) => seq(encodeCertId(id))));
  const extensions = nonce ? [tlv(0xa2, seq(seq(oid(OID_OCSP_NONCE), tlv(DER.OCTET_STRING, tlv(DER.OCTET_STRING, nonce)))))] : [];
  return seq(seq(list, ...extensions));
}

// --- response ------------------------------------------------------------------------------------

function readCertId(node: DerNode | undefined): CertId {
  const [alg, nameHash, keyHash, serial] = children(expectTag(node, DER.SEQUENCE, 'CertID'));
  const hashOid = decodeOid(expectTag(children(expectTag(alg, DER.SEQUENCE, 'hashAlgorithm'))[0], DER.OID, 'hash OID'));
  const hash = HASH_BY_OID.get(hashOid);
  if (!hash) invalid(`CertID hash algorithm ${hashOid} is not SHA-1 or SHA-2`);
  return {
    hash,
    issuerNameHash: expectTag(nameHash, DER.OCTET_STRING, 'issuerNameHash').content,
    issuerKeyHash: expectTag(keyHash, DER.OCTET_STRING, 'issuerKeyHash').content,
    serial: stripSerial(integerBytes(expectTag(serial, DER.INTEGER, 'serialNumber'))),
  };
}

function readSingleResponse(node: DerNode): SingleResponse {
  const parts = children(expectTag(node, DER.SEQUENCE, 'SingleResponse'));
  const certId = readCertId(parts[0]);
  const statusNode = parts[1];
  if (!statusNode) invalid('a SingleResponse has no certStatus');
  let status: CertStatus;
  let revokedAt: Date | undefined;
  let revocationReason: number | undefined;
  if (statusNode.tag === 0x80) status = 'good';
  else if (statusNode.tag === 0x82) status = 'unknown';
  else if (statusNode.tag === 0xa1) {
    status = 'revoked';
    const [time, reasonNode] = children(statusNode);
    revokedAt = decodeTime(expectTag(time, DER.GENERALIZED_TIME, 'revocationTime'));
    if (reasonNode) revocationReason = expectTag(children(expectTag(reasonNode, 0xa0, 'revocationReason'))[0], DER.ENUMERATED, 'CRLReason').content[0];
  } else invalid(`certStatus has tag 0x${statusNode.tag.toString(16)}`);
  const thisUpdate = decodeTime(expectTag(parts[2], DER.GENERALIZED_TIME, 'thisUpdate'));
  let nextUpdate: Date | undefined;
  for (const extra of parts.slice(3)) {
    if (extra.tag === 0xa0) nextUpdate = decodeTime(expectTag(children(extra)[0], DER.GENERALIZED_TIME, 'nextUpdate'));
    else if (extra.tag === 0xa1) refuseCritical(children(extra)[0], 'a SingleResponse');
  }
  return { certId, status, ...(revokedAt ? { revokedAt } : {}), ...(revocationReason !== undefined ? { revocationReason } : {}), thisUpdate, ...(nextUpdate ? { nextUpdate } : {}) };
}

/** Reads Extensions; refuses any critical one but the nonce. Returns the nonce, if any. */
function refuseCritical(node: DerNode | undefined, where: string): Uint8Array | undefined {
  let nonce: Uint8Array | undefined;
  for (const ext of children(expectTag(node, DER.SEQUENCE, 'Extensions'))) {
    const parts = children(ext);
    const extOid = decodeOid(expectTag(parts[0], DER.OID, 'extnID'));
    const value = expectTag(parts[parts.length - 1], DER.OCTET_STRING, 'extnValue').content;
    if (extOid === OID_OCSP_NONCE) {
      // RFC 8954: the value is an OCTET STRING; some responders put the raw nonce there instead.
      try {
        nonce = readSingle(value, DER.OCTET_STRING).content;
      } catch {
        nonce = value;
      }
      continue;
    }
    if (parts.length === 3 && parts[1]!.tag === DER.BOOLEAN && parts[1]!.content[0] === 0xff) invalid(`${where} has critical extension ${extOid}, which this verifier does not process`);
  }
  return nonce;
}

/** Parses an OCSPResponse (DER). Throws COLLATERAL_INVALID unless it is a successful basic response. */
export function parseOcspResponse(der: Uint8Array): ParsedOcspResponse {
  let root: DerNode;
  try {
    root = readSingle(der, DER.SEQUENCE);
  } catch (err) {
    invalid(`does not parse (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const [statusNode, bytesNode] = children(root);
    const status = expectTag(statusNode, DER.ENUMERATED, 'responseStatus').content[0];
    if (status !== 0) invalid(`responseStatus is ${status} (${['successful', 'malformedRequest', 'internalError', 'tryLater', '', 'sigRequired', 'unauthorized'][status ?? 4] || 'unknown'}), not successful`);
    const [typeNode, payload] = children(expectTag(children(expectTag(bytesNode, 0xa0, 'responseBytes'))[0], DER.SEQUENCE, 'ResponseBytes'));
    const type = decodeOid(expectTag(typeNode, DER.OID, 'responseType'));
    if (type !== OID_OCSP_BASIC) invalid(`responseType ${type} is not id-pkix-ocsp-basic`);
    const basic = readSingle(expectTag(payload, DER.OCTET_STRING, 'response').content, DER.SEQUENCE);
    const [tbsNode, algNode, sigNode, certsNode] = children(basic);
    const tbs = expectTag(tbsNode, DER.SEQUENCE, 'tbsResponseData');
    const fields = children(tbs);
    let i = 0;
    if (fields[i]?.tag === 0xa0) i++; // version v1 (DEFAULT)
    const responder = fields[i++];
    let responderName: Uint8Array | undefined;
    let responderKeyHash: Uint8Array | undefined;
    if (responder?.tag === 0xa1) responderName = expectTag(children(responder)[0], DER.SEQUENCE, 'responderID byName').raw;
    else if (responder?.tag === 0xa2) responderKeyHash = expectTag(children(responder)[0], DER.OCTET_STRING, 'responderID byKey').content;
    else invalid('responderID is neither byName nor byKey');
    const producedAt = decodeTime(expectTag(fields[i++], DER.GENERALIZED_TIME, 'producedAt'));
    const responses = children(expectTag(fields[i++], DER.SEQUENCE, 'responses')).map(readSingleResponse);
    let nonce: Uint8Array | undefined;
    if (fields[i]?.tag === 0xa1) nonce = refuseCritical(children(fields[i]!)[0], 'the response');
    const certs = certsNode ? children(expectTag(children(expectTag(certsNode, 0xa0, 'certs'))[0], DER.SEQUENCE, 'certs')).map((c) => new Uint8Array(c.raw)) : [];
    return {
      der,
      producedAt,
      ...(responderName ? { responderName } : {}),
      ...(responderKeyHash ? { responderKeyHash } : {}),
      responses,
      ...(nonce ? { nonce } : {}),
      tbs: tbs.raw,
      signatureAlgorithm: decodeOid(expectTag(children(expectTag(algNode, DER.SEQUENCE, 'signatureAlgorithm'))[0], DER.OID, 'signature OID')),
      signature: bitStringBytes(expectTag(sigNode, DER.BIT_STRING, 'signature')),
      certs,
    };
  } catch (err) {
    if (err instanceof AttestationError && err.code === 'COLLATERAL_INVALID') throw err;
    invalid(err instanceof Error ? err.message : String(err));
  }
}

function signedBy(response: ParsedOcspResponse, key: ParsedCertificate): boolean {
  const hash = SIGNATURE_HASHES[response.signatureAlgorithm];
  if (!hash) return false;
  try {
    return verifySignature(hash, response.tbs, key.publicKey, response.signature);
  } catch {
    return false;
  }
}

function namesSigner(response: ParsedOcspResponse, signer: ParsedCertificate): boolean {
  if (response.responderName) return Buffer.compare(response.responderName, signer.subjectDer) === 0;
  return response.responderKeyHash !== undefined && bytesEqual(response.responderKeyHash, digest('sha1', subjectPublicKeyBytes(signer)));
}

function extendedKeyUsages(cert: ParsedCertificate): string[] {
  const value = cert.extensions.get(OID_EXTENDED_KEY_USAGE);
  if (!value) return [];
  return children(readSingle(value, DER.SEQUENCE)).map((n) => decodeOid(expectTag(n, DER.OID, 'KeyPurposeId')));
}

/**
 * Who signed a response about `issuer`'s certificates at `now`: "issuer", or "delegated" for a responder
 * certificate the issuer signed; a string saying why neither did otherwise.
 */
export function ocspSigner(response: ParsedOcspResponse, issuer: ParsedCertificate, now: Date): { by: 'issuer' | 'delegated' } | { problem: string } {
  if (namesSigner(response, issuer)) {
    return signedBy(response, issuer) ? { by: 'issuer' } : { problem: `its signature does not verify with the issuer "${issuer.subjectCommonName ?? issuer.subject}"'s key` };
  }
  let last = `it is signed by neither the issuer "${issuer.subjectCommonName ?? issuer.subject}" nor a responder certificate it includes`;
  for (const der of response.certs) {
    let responder: ParsedCertificate;
    try {
      responder = parseCertificate(der);
    } catch {
      continue;
    }
    if (!namesSigner(response, responder)) continue;
    const name = `responder certificate "${responder.subjectCommonName ?? responder.subject}"`;
    if (!namesIssuer(responder, issuer) || !isSignedBy(responder, issuer)) last = `the ${name} was not issued by "${issuer.subjectCommonName ?? issuer.subject}" (RFC 6960 4.2.2.2: a delegated responder is certified by the CA itself)`;
    else if (!extendedKeyUsages(responder).includes(OID_KP_OCSP_SIGNING)) last = `the ${name} does not carry id-kp-OCSPSigning`;
    else if (responder.keyUsage && !responder.keyUsage.has('digitalSignature')) last = `the ${name} has a keyUsage without digitalSignature`;
    else if (now.getTime() < responder.notBefore.getTime() || now.getTime() > responder.notAfter.getTime()) last = `the ${name} is not valid at ${now.toISOString()}`;
    else if (!signedBy(response, responder)) last = `its signature does not verify with the ${name}`;
    else return { by: 'delegated' };
  }
  return { problem: last };
}

function covers(single: SingleResponse, cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  const id = certIdFor(cert, issuer, single.certId.hash);
  return id.serial === single.certId.serial && bytesEqual(id.issuerNameHash, single.certId.issuerNameHash) && bytesEqual(id.issuerKeyHash, single.certId.issuerKeyHash);
}

export type OcspJudgement =
  | { status: CertStatus; single: SingleResponse; response: ParsedOcspResponse }
  /** No response covers the certificate (or none parses or is signed by the issuer or its responder). */
  | { status: 'missing'; problem: string }
  /** The newest covering, validly signed response is not current at now (or has no nextUpdate). */
  | { status: 'stale'; problem: string; single: SingleResponse };

/**
 * The status of `cert` (issued by `issuer`) at `now` from the responses given: of those that parse, are
 * validly signed for this issuer and cover the certificate, the one with the latest thisUpdate decides,
 * provided it is current.
 */
export function judgeOcsp(cert: ParsedCertificate, issuer: ParsedCertificate, responses: readonly (Uint8Array | ParsedOcspResponse)[], now: Date): OcspJudgement {
  let best: { single: SingleResponse; response: ParsedOcspResponse } | undefined;
  let problem = 'no OCSP response names it';
  for (const item of responses) {
    let response: ParsedOcspResponse;
    try {
      response = item instanceof Uint8Array ? parseOcspResponse(item) : item;
    } catch {
      continue;
    }
    const singles = response.responses.filter((s) => covers(s, cert, issuer));
    if (singles.length === 0) continue;
    const signer = ocspSigner(response, issuer, now);
    if ('problem' in signer) {
      problem = `the OCSP response that names it is not usable: ${signer.problem}`;
      continue;
    }
    for (const single of singles) if (!best || single.thisUpdate.getTime() > best.single.thisUpdate.getTime()) best = { single, response };
  }
  if (!best) return { status: 'missing', problem };
  const { single } = best;
  if (!single.nextUpdate) return { status: 'stale', single, problem: 'its OCSP response has no nextUpdate, so it cannot be judged current' };
  if (single.thisUpdate.getTime() > now.getTime() || single.nextUpdate.getTime() < now.getTime()) {
    return { status: 'stale', single, problem: `its OCSP response is not current at ${now.toISOString()} (${single.thisUpdate.toISOString()}..${single.nextUpdate.toISOString()})` };
  }
  return { status: single.status, single, response: best.response };
}
