// DCAP collateral as Intel's PCS serves it: TCB info and QE identity JSON bodies
// `{"tcbInfo":{…},"signature":"<hex r‖s>"}` / `{"enclaveIdentity":{…},"signature":…}`, signed with ECDSA
// P-256/SHA-256 by the "Intel SGX TCB Signing" certificate over the exact raw text of the inner object
// (as stored: never re-serialised), plus the issuer chain (PEM) and CRLs (DER).
import { verify as verifySignature } from 'node:crypto';
import { fromHex } from '../bytes.js';
import { decodeCertificates } from '../evidence-input.js';
import { AttestationError } from '../reasons.js';
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

/** Index just past the JSON string starting at `i` (which is a quote). */
function skipString(json: string, i: number): number {
  i++;
  while (i < json.length && json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
  return i + 1;
}

/**
 * The exact text of a top-level member's object value in a JSON document, found by a string-aware scan
 * (keys are the strings at depth 1 followed by a colon), so the signature is checked over the bytes Intel
 * signed rather than over a re-serialisation.
 */
export function rawMemberText(json: string, member: string): string | undefined {
  let depth = 0;
  let i = 0;
  while (i < json.length) {
    const ch = json[i]!;
    if (ch === '"') {
      const end = skipString(json, i);
      const isKey = depth === 1 && /^\s*:/.test(json.slice(end, end + 16));
      if (isKey && json.slice(i + 1, end - 1) === member) {
        let v = json.indexOf(':', end) + 1;
        while (/\s/.test(json[v] ?? '')) v++;
        if (json[v] !== '{') return undefined;
        let d = 0;
        for (let k = v; k < json.length; k++) {
          const c = json[k]!;
          if (c === '"') k = skipString(json, k) - 1;
          else if (c === '{') d++;
          else if (c === '}' && --d === 0) return json.slice(v, k + 1);
        }
        return undefined;
      }
      i = end;
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    i++;
  }
  return undefined;
}

function parseSigned<T>(text: string, member: 'tcbInfo' | 'enclaveIdentity'): SignedCollateral<T> {
  let outer: unknown;
  try {
    outer = JSON.parse(text);
  } catch {
    throw new AttestationError('COLLATERAL_INVALID', `${member} collateral is not JSON`);
  }
  const o = outer as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || typeof o[member] !== 'object' || typeof o.signature !== 'string') {
    throw new AttestationError('COLLATERAL_INVALID', `collateral is not a {"${member}": …, "signature": …} body`);
  }
  const signedText = rawMemberText(text, member);
  if (!signedText) throw new AttestationError('COLLATERAL_INVALID', `cannot locate the raw ${member} text`);
  const signature = fromHex(o.signature, `${member} signature`);
  if (signature.length !== 64) throw new AttestationError('COLLATERAL_INVALID', `${member} signature is not 64 bytes`);
  return { signedText, body: o[member] as T, signature };
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
    const text = Buffer.from(bytes).toString('utf8');
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
