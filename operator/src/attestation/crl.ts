// X.509 CRLs (RFC 5280 §5) as Intel's PCS (ECDSA) and AMD's KDS (RSASSA-PSS, by the ARK) serve them (DER):
// parsed with the DER reader, signature checked against the issuer certificate, validity window and
// revoked serial numbers exposed.
import { constants, verify as verifySignature } from 'node:crypto';
import { toHex } from './bytes.js';
import { bitStringBytes, children, decodeOid, decodeTime, DER, expectTag, integerBytes, readSingle, type DerNode } from './der.js';
import { AttestationError } from './reasons.js';
import type { ParsedCertificate } from './x509.js';

export interface ParsedCrl {
  der: Uint8Array;
  issuerDer: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Revoked serial numbers, lowercase hex without leading zeros. */
  revokedSerials: Set<string>;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  /** The signature AlgorithmIdentifier's parameters (RSASSA-PSS-params), DER; absent for ECDSA. */
  signatureParameters?: Uint8Array;
  signature: Uint8Array;
}

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
};

const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const PSS_HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/**
 * RSASSA-PSS-params (RFC 4055 §3.1): the hash and salt length. Only explicit SHA-2 hashes with MGF1 over
 * the same hash are accepted (AMD: SHA-384, MGF1-SHA-384, salt 48); the SHA-1 defaults are refused.
 */
function pssParameters(params: Uint8Array | undefined): { hash: string; saltLength: number } | undefined {
  if (!params) return undefined;
  let hash: string | undefined;
  let mgfHash: string | undefined;
  let saltLength = 20;
  for (const field of children(readSingle(params, DER.SEQUENCE))) {
    const inner = children(field)[0];
    if (field.tag === 0xa0) hash = PSS_HASHES[decodeOid(expectTag(children(expectTag(inner, DER.SEQUENCE, 'hashAlgorithm'))[0], DER.OID, 'hash OID'))];
    else if (field.tag === 0xa1) {
      const [mgfOid, mgfParams] = children(expectTag(inner, DER.SEQUENCE, 'maskGenAlgorithm'));
      if (decodeOid(expectTag(mgfOid, DER.OID, 'MGF OID')) !== '1.2.840.113549.1.1.8') return undefined;
      mgfHash = PSS_HASHES[decodeOid(expectTag(children(expectTag(mgfParams, DER.SEQUENCE, 'MGF hash'))[0], DER.OID, 'MGF hash OID'))];
    } else if (field.tag === 0xa2) saltLength = Number.parseInt(toHex(integerBytes(expectTag(inner, DER.INTEGER, 'saltLength'))) || '0', 16);
  }
  if (!hash || mgfHash !== hash) return undefined;
  return { hash, saltLength };
}

/** Throws COLLATERAL_INVALID when an Extensions SEQUENCE marks any extension critical. */
function refuseCritical(extensions: DerNode, where: string): void {
  for (const ext of children(extensions)) {
    const parts = children(ext);
    const oid = decodeOid(expectTag(parts[0], DER.OID, 'extnID'));
    if (parts.length === 3 && expectTag(parts[1], DER.BOOLEAN, `extension ${oid} critical flag`).content[0] === 0xff) {
      throw new AttestationError('COLLATERAL_INVALID', `${where} has critical extension ${oid}, which this verifier does not process (a delta, partitioned or indirect CRL)`);
    }
  }
}

export function parseCrl(der: Uint8Array): ParsedCrl {
  const root = readSingle(der, DER.SEQUENCE);
  const [tbsNode, algNode, sigNode] = children(root);
  const tbs = expectTag(tbsNode, DER.SEQUENCE, 'tbsCertList');
  const [algOid, algParams] = children(expectTag(algNode, DER.SEQUENCE, 'signatureAlgorithm'));
  const signature = bitStringBytes(expectTag(sigNode, DER.BIT_STRING, 'signatureValue'));
  const fields = children(tbs);
  let i = 0;
  if (fields[i]?.tag === DER.INTEGER) i++; // version
  i++; // signature AlgorithmIdentifier
  const issuer = expectTag(fields[i++], DER.SEQUENCE, 'issuer');
  const thisUpdateNode = fields[i++];
  if (!thisUpdateNode) throw new AttestationError('MALFORMED_EVIDENCE', 'CRL has no thisUpdate');
  const thisUpdate = decodeTime(thisUpdateNode);
  let nextUpdate: Date | undefined;
  if (fields[i] && (fields[i]!.tag === DER.UTC_TIME || fields[i]!.tag === DER.GENERALIZED_TIME)) nextUpdate = decodeTime(fields[i++]!);
  const revokedSerials = new Set<string>();
  if (fields[i]?.tag === DER.SEQUENCE) {
    for (const entry of children(fields[i++]!)) {
      const [serial, , entryExtensions] = children(entry);
      const hex = toHex(integerBytes(expectTag(serial, DER.INTEGER, 'userCertificate'))).replace(/^0+(?=.)/, '');
      if (entryExtensions) refuseCritical(expectTag(entryExtensions, DER.SEQUENCE, 'crlEntryExtensions'), `the CRL entry for serial ${hex}`);
      revokedSerials.add(hex);
    }
  }
  // A CRL that is a delta, covers only part of its issuer's certificates (issuingDistributionPoint) or
  // lists other issuers' certificates says so in a critical extension; read as a complete CRL it would
  // hide revocations, so one that has any critical extension is not used (RFC 5280 5.2).
  if (fields[i]?.tag === 0xa0) refuseCritical(expectTag(children(fields[i]!)[0], DER.SEQUENCE, 'crlExtensions'), 'the CRL');
  return {
    der,
    issuerDer: issuer.raw,
    thisUpdate,
    nextUpdate,
    revokedSerials,
    tbs: tbs.raw,
    signatureAlgorithm: decodeOid(expectTag(algOid, DER.OID, 'signatureAlgorithm')),
    ...(algParams && algParams.tag === DER.SEQUENCE ? { signatureParameters: algParams.raw } : {}),
    signature,
  };
}

export function crlIssuedBy(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  return Buffer.compare(crl.issuerDer, issuer.subjectDer) === 0;
}

/** Whether `issuer` signed the CRL and may sign CRLs at all (keyUsage cRLSign, RFC 5280 6.3.3). */
export function crlSignatureValid(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  if (!issuer.keyUsage?.has('cRLSign')) return false;
  try {
    if (crl.signatureAlgorithm === OID_RSASSA_PSS) {
      const pss = pssParameters(crl.signatureParameters);
      if (!pss) return false;
      return verifySignature(pss.hash, crl.tbs, { key: issuer.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength }, crl.signature);
    }
    const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
    if (!hash) return false;
    return verifySignature(hash, crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/**
 * The CRL to judge `issuer`'s certificates by: of those it validly signed, the one issued last. With two
 * current CRLs the older may predate a revocation, so the first one found is not good enough.
 */
export function newestCrlOf(crls: readonly ParsedCrl[], issuer: ParsedCertificate): ParsedCrl | undefined {
  return crls
    .filter((c) => crlIssuedBy(c, issuer) && crlSignatureValid(c, issuer))
    .reduce<ParsedCrl | undefined>((best, c) => (!best || c.thisUpdate.getTime() > best.thisUpdate.getTime() ? c : best), undefined);
}

export function isRevoked(crl: ParsedCrl, cert: ParsedCertificate): boolean {
  return crl.revokedSerials.has(cert.serialHex.replace(/^0+(?=.)/, ''));
}
