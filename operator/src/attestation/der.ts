// A minimal, strict DER reader (ITU-T X.690) for the few structures node:crypto does not expose:
// certificate extensions (AMD VCEK SPLs/hwID, Intel SGX PCK extension, TCG DICE TcbInfo), CRLs.
// It only walks tag-length-value triples; callers decide what the values mean.
import { AttestationError } from './reasons.js';

export interface DerNode {
  /** The full identifier octet (class, constructed bit and tag number < 31). */
  tag: number;
  /** Offset of the identifier octet in the source bytes. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
  /** The content bytes (a view, not a copy). */
  content: Uint8Array;
  /** The whole TLV (a view). */
  raw: Uint8Array;
}

export const DER = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `DER: ${message}`);
}

/** Reads one TLV starting at `offset` and bounded by `limit`. */
export function readNode(bytes: Uint8Array, offset = 0, limit = bytes.length): DerNode {
  if (offset + 2 > limit) fail('truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) fail('multi-byte tags are not supported');
  let pos = offset + 1;
  const first = bytes[pos++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    // DER (X.690 10.1): definite lengths only, in the fewest octets. BER's alternatives (0x80 indefinite,
    // long form for a length under 128, leading zero octets) give one value many encodings.
    const count = first & 0x7f;
    if (count === 0) fail('indefinite length (BER, not DER)');
    if (count > 4) fail(`length of ${count} octets is not supported`);
    if (pos + count > limit) fail('truncated length');
    if (bytes[pos] === 0) fail('non-minimal length (leading zero octet)');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[pos++]!;
    if (length < 0x80) fail('non-minimal length (long form for a length under 128)');
  }
  const end = pos + length;
  if (end > limit) fail(`length ${length} runs past the end`);
  return {
    tag,
    start: offset,
    contentStart: pos,
    end,
    content: bytes.subarray(pos, end),
    raw: bytes.subarray(offset, end),
  };
}

/** Reads exactly one TLV that must fill `bytes` completely and be DER throughout (checkDer). */
export function readSingle(bytes: Uint8Array, expectedTag?: number): DerNode {
  const node = readNode(bytes, 0, bytes.length);
  if (node.end !== bytes.length) fail('trailing bytes after value');
  checkDer(node);
  if (expectedTag !== undefined && node.tag !== expectedTag) fail(`expected tag 0x${expectedTag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/**
 * Checks every TLV under `node` (constructed nodes recursively, primitive ones as leaves) with the same
 * rules as readNode, plus DER's value rules for BOOLEAN (0x00 or 0xFF) and INTEGER (minimal two's
 * complement), so a certificate or CRL has one encoding: parts a parser skips are held to DER too.
 */
export function checkDer(node: DerNode, depth = 0): void {
  if (depth > 32) fail('nesting too deep');
  const universal = (node.tag & 0xc0) === 0;
  if (universal && (node.tag & 0x20) !== 0 && node.tag !== DER.SEQUENCE && node.tag !== DER.SET) fail(`constructed form of universal tag ${node.tag & 0x1f} (BER, not DER)`);
  if (node.tag === DER.BOOLEAN && (node.content.length !== 1 || (node.content[0] !== 0x00 && node.content[0] !== 0xff))) fail('BOOLEAN is not 0x00 or 0xFF');
  if (node.tag === DER.INTEGER) {
    const c = node.content;
    if (c.length === 0) fail('empty INTEGER');
    if (c.length > 1 && ((c[0] === 0x00 && (c[1]! & 0x80) === 0) || (c[0] === 0xff && (c[1]! & 0x80) !== 0))) fail('non-minimal INTEGER');
  }
  if ((node.tag & 0x20) !== 0) for (const child of children(node)) checkDer(child, depth + 1);
}

/** The children of a constructed node. */
export function children(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) fail(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let pos = 0;
  const c = node.content;
  while (pos < c.length) {
    const child = readNode(c, pos, c.length);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) fail(`${what} is missing`);
  if (node.tag !== tag) fail(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

export function decodeOid(node: DerNode): string {
  if (node.tag !== DER.OID) fail('expected an OBJECT IDENTIFIER');
  const c = node.content;
  if (c.length === 0) fail('empty OID');
  // Arcs are unbounded (a 2.25.<UUID> arc is a 128-bit integer), so they are accumulated as BigInt: a
  // JavaScript number would silently round an arc above 2^53 and two OIDs could read as one.
  const parts: bigint[] = [];
  let value = 0n;
  for (let i = 0; i < c.length; i++) {
    value = value * 128n + BigInt(c[i]! & 0x7f);
    if ((c[i]! & 0x80) === 0) {
      if (parts.length === 0) {
        const first = value < 80n ? value / 40n : 2n;
        parts.push(first, value - first * 40n);
      } else parts.push(value);
      value = 0n;
    } else if (i === c.length - 1) fail('truncated OID');
  }
  return parts.join('.');
}

/** A non-negative INTEGER small enough for a JS number (SPLs, SVNs, versions). */
export function decodeSmallUnsigned(node: DerNode): number {
  if (node.tag !== DER.INTEGER && node.tag !== DER.ENUMERATED) fail('expected an INTEGER');
  const c = node.content;
  if (c.length === 0 || c.length > 7) fail('INTEGER length out of range');
  if (c[0]! & 0x80) fail('negative INTEGER');
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** INTEGER content as unsigned big-endian bytes with DER's sign padding removed (certificate serials). */
export function integerBytes(node: DerNode): Uint8Array {
  if (node.tag !== DER.INTEGER) fail('expected an INTEGER');
  let c = node.content;
  while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c;
}

/** UTCTime / GeneralizedTime (RFC 5280 4.1.2.5) as a Date. */
export function decodeTime(node: DerNode): Date {
  const text = Buffer.from(node.content).toString('ascii');
  let m: RegExpMatchArray | null;
  if (node.tag === DER.UTC_TIME && (m = text.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (node.tag === DER.GENERALIZED_TIME && (m = text.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  return fail(`unsupported time value "${text}"`);
}

/** BIT STRING content without the unused-bits octet (must be 0 for signatures and keys). */
export function bitStringBytes(node: DerNode): Uint8Array {
  if (node.tag !== DER.BIT_STRING) fail('expected a BIT STRING');
  if (node.content.length < 1 || node.content[0] !== 0) fail('BIT STRING with unused bits');
  return node.content.subarray(1);
}
