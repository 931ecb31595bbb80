// X.509 CRLs (RFC 5280 §5) as Intel's PCS serves them (DER): parsed with the DER reader, signature checked
// against the issuer certificate, validity window and revoked serial numbers exposed.
import { verify as verifySignature } from 'node:crypto';
import { toHex } from './bytes.js';
import { bitStringBytes, children, decodeOid, decodeTime, DER, expectTag, integerBytes, readSingle } from './der.js';
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
    for (const entry of children(fields[i]!)) {
      const [serial] = children(entry);
      revokedSerials.add(toHex(integerBytes(expectTag(serial, DER.INTEGER, 'userCertificate'))).replace(/^0+(?=.)/, ''));
    }
  }
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

export function isRevoked(crl: ParsedCrl, cert: ParsedCertificate): boolean {
  return crl.revokedSerials.has(cert.serialHex.replace(/^0+(?=.)/, ''));
}
