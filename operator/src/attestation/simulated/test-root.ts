// The simulated TEE's certificate authority: a root and its descendants generated at runtime with
// node:crypto (P-384 keys, ecdsa-with-SHA384), encoded with the small DER writer beside this file. No
// private key is ever committed. Verifiers trust these certificates only when a policy lists the root in
// trustedRoots and sets allowSimulated.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { derBitString, derBoolean, derExplicit, derInteger, derOctetString, derOid, derPrintableString, derSequence, derSet, derTime, derUtf8String } from './der-encode.js';

const OID_ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const NAME_OIDS: Record<string, string> = { CN: '2.5.4.3', O: '2.5.4.10', serialNumber: '2.5.4.5' };

/** A distinguished name as ordered attribute/value pairs, e.g. [['CN', 'SEV-VCEK'], ['O', '…']]. */
export type Name = [keyof typeof NAME_OIDS, string][];

export interface IssuedCertificate {
  der: Uint8Array;
  pem: string;
  privateKey: KeyObject;
  name: Name;
}

export interface ValidityWindow {
  notBefore: Date;
  notAfter: Date;
}

export interface Extension {
  oid: string;
  critical?: boolean;
  /** The extnValue content (DER). */
  value: Uint8Array;
}

let serial = 0x1000;

function encodeName(name: Name): Uint8Array {
  return derSequence(
    ...name.map(([attr, value]) => derSet(derSequence(derOid(NAME_OIDS[attr]!), attr === 'serialNumber' ? derPrintableString(value) : derUtf8String(value)))),
  );
}

function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

function build(subject: Name, issuer: Name, issuerKey: KeyObject | undefined, validity: ValidityWindow, ca: boolean, extra: Extension[], standard?: Extension[]): IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const signatureAlgorithm = derSequence(derOid(OID_ECDSA_WITH_SHA384));
  const extensions: Extension[] = [
    ...(standard ?? [
      ...(ca ? [{ oid: OID_BASIC_CONSTRAINTS, critical: true, value: derSequence(derBoolean(true)) }] : []),
      // keyUsage: keyCertSign + cRLSign for CAs (bits 5, 6), digitalSignature for leaves (bit 0).
      { oid: OID_KEY_USAGE, critical: true, value: ca ? derBitString(Uint8Array.of(0x06), 1) : derBitString(Uint8Array.of(0x80), 7) },
    ]),
    ...extra,
  ];
  serial += 1;
  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // v3
    derInteger(serial),
    signatureAlgorithm,
    encodeName(issuer),
    derSequence(derTime(validity.notBefore), derTime(validity.notAfter)),
    encodeName(subject),
    new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    derExplicit(3, derSequence(...extensions.map((e) => derSequence(derOid(e.oid), ...(e.critical ? [derBoolean(true)] : []), derOctetString(e.value))))),
  );
  const signature = sign('sha384', tbs, issuerKey ?? privateKey);
  const der = derSequence(tbs, signatureAlgorithm, derBitString(new Uint8Array(signature)));
  return { der, pem: toPem(der), privateKey, name: subject };
}

/**
 * `standardExtensions` replaces the basicConstraints and keyUsage every certificate gets by default (tests
 * use it to build certificates whose constraints a verifier must refuse).
 */
interface ExtensionOptions {
  extensions?: Extension[];
  standardExtensions?: Extension[];
}

/** A self-signed P-384 root CA. */
export function createRoot(name: Name, validity: ValidityWindow, options: ExtensionOptions = {}): IssuedCertificate {
  return build(name, name, undefined, validity, true, options.extensions ?? [], options.standardExtensions);
}

/** A certificate issued by `issuer`: a CA when `ca`, otherwise a signing leaf, with extra extensions. */
export function issue(issuer: IssuedCertificate, name: Name, validity: ValidityWindow, options: { ca: boolean } & ExtensionOptions): IssuedCertificate {
  return build(name, issuer.name, issuer.privateKey, validity, options.ca, options.extensions ?? [], options.standardExtensions);
}
