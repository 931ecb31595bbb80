// DCAP collateral as Intel's PCS serves it: TCB info and QE identity JSON bodies
// `{"tcbInfo":{…},"signature":"<hex r‖s>"}` / `{"enclaveIdentity":{…},"signature":…}`, signed with ECDSA
// P-256/SHA-256 by the "Intel SGX TCB Signing" certificate over the exact raw text of the inner object
// (as stored: never re-serialised), plus the issuer chain (PEM) and CRLs (DER).
import { verify as verifySignature } from 'node:crypto';
import { fromHex } from '../bytes.js';
import { decodeCertificates } from '../evidence-input.js';
import { AttestationError } from '../reasons.js';
import { decodeUtf8Strict } from '../../util/strict-utf8.js';
import { parseStrictJson, parseStrictJsonObject, type RawMember } from '../strict-json.js';
import type { ParsedCertificate } from '../x509.js';

/** Everything a TDX verification may use besides the quote. JSON-serialisable apart from the DER bytes. */
export interface TdxCollateral {
  /** Raw PCS response bodies (any number; the one whose FMSPC matches the quote is used). */
  tcbInfos?: string[];
  /** Raw PCS TD_QE identity bodies (the latest valid one is used). */
  qeIdentities?: string[];
  /** DER certificates: the TCB signing chain (and optionally other Intel CAs). */
  issuerChain?: Uint8Array[];
  /** DER CRLs: the PCK CA CRL for the quote's PCK issuer and the Root CA CRL. */
  crls?: Uint8Array[];
}

export interface TcbComponent {
  svn: number;
}

export interface TcbLevel {
  tcb: { sgxtcbcomponents: TcbComponent[]; pcesvn: number; tdxtcbcomponents: TcbComponent[] };
  tcbDate: string;
  tcbStatus: string;
  advisoryIDs?: string[];
}

export interface ModuleTcbLevel {
  tcb: { isvsvn: number };
  tcbDate: string;
  tcbStatus: string;
  advisoryIDs?: string[];
}

export interface TdxModuleIdentity {
  id: string;
  mrsigner: string;
  attributes: string;
  attributesMask: string;
  tcbLevels: ModuleTcbLevel[];
}

export interface TcbInfo {
  id: string;
  version: number;
  issueDate: string;
  nextUpdate: string;
  fmspc: string;
  pceId: string;
  tcbEvaluationDataNumber: number;
  tdxModule?: { mrsigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: TdxModuleIdentity[];
  tcbLevels: TcbLevel[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: string;
  nextUpdate: string;
  tcbEvaluationDataNumber: number;
  miscselect: string;
  miscselectMask: string;
  attributes: string;
  attributesMask: string;
  mrsigner: string;
  isvprodid: number;
  tcbLevels: ModuleTcbLevel[];
}

export interface SignedCollateral<T> {
  /** The inner object's exact text: what the signature covers. */
  signedText: string;
  body: T;
  /** r ‖ s, 64 bytes. */
  signature: Uint8Array;
}

/**
 * The exact text of a top-level member's object value in a JSON document, read with the strict parser
 * (so a document with the member twice, or with anything after it, has no such text).
 */
export function rawMemberText(json: string, member: string): string | undefined {
  try {
    const found = parseStrictJsonObject(json).get(member);
    return found && typeof found.value === 'object' && found.value !== null && !Array.isArray(found.value) ? found.raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One strict parse of a PCS body: exactly the members `member` and "signature", no name twice at any
 * depth, nothing after the closing brace. The body judged is parsed from the signed member's own text,
 * the very characters the signature is checked over, so the two can never be different objects.
 */
function parseSigned<T>(text: string, member: 'tcbInfo' | 'enclaveIdentity'): SignedCollateral<T> {
  let members: Map<string, RawMember>;
  try {
    members = parseStrictJsonObject(text);
  } catch (err) {
    throw new AttestationError('COLLATERAL_INVALID', `${member} collateral is not strict JSON: ${(err as Error).message}`);
  }
  const names = [...members.keys()];
  const signed = members.get(member);
  const signatureHex = members.get('signature')?.value;
  if (!signed || typeof signed.value !== 'object' || signed.value === null || Array.isArray(signed.value) || typeof signatureHex !== 'string' || names.length !== 2) {
    throw new AttestationError('COLLATERAL_INVALID', `collateral is not a {"${member}": {…}, "signature": "…"} body (members: ${names.join(', ')})`);
  }
  const signedText = signed.raw;
  const body = parseStrictJson(signedText) as unknown as T;
  if (!/^[0-9a-fA-F]{128}$/.test(signatureHex)) throw new AttestationError('COLLATERAL_INVALID', `${member} signature is not 64 bytes of hex`);
  const signature = fromHex(signatureHex, `${member} signature`);
  return { signedText, body, signature };
}

export function parseTcbInfo(text: string): SignedCollateral<TcbInfo> {
  const c = parseSigned<TcbInfo>(text, 'tcbInfo');
  const b = c.body;
  if (typeof b.fmspc !== 'string' || !Array.isArray(b.tcbLevels) || typeof b.nextUpdate !== 'string') {
    throw new AttestationError('COLLATERAL_INVALID', 'TCB info lacks fmspc, tcbLevels or nextUpdate');
  }
  return c;
}

export function parseQeIdentity(text: string): SignedCollateral<QeIdentity> {
  const c = parseSigned<QeIdentity>(text, 'enclaveIdentity');
  const b = c.body;
  if (typeof b.mrsigner !== 'string' || !Array.isArray(b.tcbLevels) || typeof b.nextUpdate !== 'string') {
    throw new AttestationError('COLLATERAL_INVALID', 'QE identity lacks mrsigner, tcbLevels or nextUpdate');
  }
  return c;
}

export function collateralSignatureValid(c: SignedCollateral<unknown>, signer: ParsedCertificate): boolean {
  try {
    return verifySignature('sha256', Buffer.from(c.signedText, 'utf8'), { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, c.signature);
  } catch {
    return false;
  }
}

/**
 * Sorts files from a collateral directory into a TdxCollateral by content, not name: JSON with tcbInfo or
 * enclaveIdentity, PEM certificates, and DER (a CRL). Pure: the caller reads the directory.
 */
export function collateralFromFiles(files: { name: string; bytes: Uint8Array }[]): TdxCollateral {
  const out: Required<TdxCollateral> = { tcbInfos: [], qeIdentities: [], issuerChain: [], crls: [] };
  for (const { name, bytes } of files) {
    // Strict decoding: a lossy one would hand the signature check other bytes than the file's; a BOM is
    // kept so the strict JSON reader refuses it rather than the signature covering other bytes.
    const text = decodeUtf8Strict(bytes, { keepBom: true });
    if (text === undefined) {
      if (bytes[0] === 0x30) {
        out.crls.push(bytes);
        continue;
      }
      throw new AttestationError('MALFORMED_EVIDENCE', `collateral file ${name} is neither UTF-8 text nor a DER CRL`);
    }
    const trimmed = text.trimStart();
    if (trimmed.startsWith('{')) {
      if (text.includes('"tcbInfo"')) out.tcbInfos.push(text);
      else if (text.includes('"enclaveIdentity"')) out.qeIdentities.push(text);
      else throw new AttestationError('MALFORMED_EVIDENCE', `collateral file ${name} is JSON but neither TCB info nor QE identity`);
    } else if (text.includes('-----BEGIN')) {
      out.issuerChain.push(...decodeCertificates(text, `collateral file ${name}`));
    } else if (bytes[0] === 0x30) {
      out.crls.push(bytes);
    } else {
      throw new AttestationError('MALFORMED_EVIDENCE', `collateral file ${name} is not TCB info, QE identity, a PEM chain or a DER CRL`);
    }
  }
  return out;
}
