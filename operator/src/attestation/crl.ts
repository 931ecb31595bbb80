// X.509 CRLs (RFC 5280 §5) as Intel's PCS serves them (DER): parsed with the DER reader, signature checked
// against the issuer certificate, validity window and revoked serial numbers exposed.
import { verify as verifySignature } from 'node:crypto';
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
  signature: Uint8Array;
}

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
};

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
  const [algOid] = children(expectTag(algNode, DER.SEQUENCE, 'signatureAlgorithm'));
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
    signature,
  };
}

export function crlIssuedBy(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  return Buffer.compare(crl.issuerDer, issuer.subjectDer) === 0;
}

/** Whether `issuer` signed the CRL and may sign CRLs at all (keyUsage cRLSign, RFC 5280 6.3.3). */
export function crlSignatureValid(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  if (!issuer.keyUsage?.has('cRLSign')) return false;
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  if (!hash) return false;
  try {
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
