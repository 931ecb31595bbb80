// Turning the input formats found in the wild into bytes: raw binary, hex text, base64 text, PEM bundles
// and DER certificates. Pure: callers (the CLI, the attestation service) do the file or network I/O.
import { AttestationError } from './reasons.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

function asText(bytes: Uint8Array): string | undefined {
  // Text inputs are ASCII; anything with a byte outside printable ASCII/whitespace is binary.
  for (const b of bytes) {
    if (b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f)) continue;
    return undefined;
  }
  return Buffer.from(bytes).toString('ascii');
}

/** All PEM blocks in `text`, in order. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new AttestationError('MALFORMED_EVIDENCE', `PEM block "${m[1]}" is not valid base64`);
    }
    out.push({ label: m[1]!, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return out;
}

/**
 * Certificates from a PEM bundle (any number, in file order) or a single DER certificate.
 * Throws MALFORMED_EVIDENCE when the input is neither.
 */
export function decodeCertificates(input: Uint8Array | string, what = 'certificate input'): Uint8Array[] {
  const text = typeof input === 'string' ? input : asText(input);
  if (text !== undefined && text.includes('-----BEGIN')) {
    const certs = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
    if (certs.length === 0) throw new AttestationError('MALFORMED_EVIDENCE', `${what} has no CERTIFICATE blocks`);
    return certs;
  }
  if (typeof input !== 'string' && input.length > 0 && input[0] === 0x30) return [input];
  throw new AttestationError('MALFORMED_EVIDENCE', `${what} is neither a PEM bundle nor a DER certificate`);
}

/**
 * Evidence bytes from raw binary, hex text (whitespace ignored) or base64 text. `isPlausible` tells
 * binary that merely happens to be printable apart from the encodings (checked on the decoded bytes).
 */
export function decodeEvidenceBytes(input: Uint8Array | string, isPlausible: (bytes: Uint8Array) => boolean = () => true): Uint8Array {
  const text = typeof input === 'string' ? input : asText(input);
  if (text !== undefined) {
    const compact = text.replace(/\s+/g, '');
    const hex = compact.startsWith('0x') ? compact.slice(2) : compact;
    if (hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex)) {
      const decoded = new Uint8Array(Buffer.from(hex, 'hex'));
      if (isPlausible(decoded)) return decoded;
    }
    if (compact.length > 0 && compact.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
      const decoded = new Uint8Array(Buffer.from(compact, 'base64'));
      if (isPlausible(decoded)) return decoded;
    }
    if (typeof input === 'string') throw new AttestationError('MALFORMED_EVIDENCE', 'evidence text is neither hex nor base64');
  }
  return typeof input === 'string' ? new Uint8Array(Buffer.from(input, 'latin1')) : input;
}
