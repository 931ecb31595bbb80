// Byte helpers shared by every parser. Reads are bounds-checked and throw AttestationError
// (MALFORMED_EVIDENCE) instead of returning undefined or garbage.
import { createHash, timingSafeEqual } from 'node:crypto';
import { AttestationError } from './reasons.js';

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding (even length, hex digits only; surrounding whitespace and a 0x prefix allowed). */
export function fromHex(text: string, what = 'hex value'): Uint8Array {
  let t = text.trim();
  if (t.startsWith('0x') || t.startsWith('0X')) t = t.slice(2);
  if (!HEX.test(t)) throw new AttestationError('MALFORMED_EVIDENCE', `${what} is not valid hex`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha384(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function reversed(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/** Right-pads with zero bytes to `length` (report_data convention for shorter nonces). */
export function padRight(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length > length) throw new AttestationError('MALFORMED_EVIDENCE', `value is longer than ${length} bytes`);
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

/** Bounds-checked little-endian reader over a byte array, named after what it reads for error messages. */
export class ByteReader {
  constructor(
    readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  private need(offset: number, size: number): void {
    if (!Number.isInteger(offset) || offset < 0 || size < 0 || offset + size > this.bytes.length) {
      throw new AttestationError(
        'MALFORMED_EVIDENCE',
        `${this.what} is truncated: needs ${size} byte(s) at offset 0x${Math.max(0, offset).toString(16)}, has ${this.bytes.length}`,
      );
    }
  }

  slice(offset: number, size: number): Uint8Array {
    this.need(offset, size);
    return this.bytes.subarray(offset, offset + size);
  }

  u8(offset: number): number {
    this.need(offset, 1);
    return this.bytes[offset]!;
  }

  u16(offset: number): number {
    this.need(offset, 2);
    return this.bytes[offset]! | (this.bytes[offset + 1]! << 8);
  }

  u24(offset: number): number {
    this.need(offset, 3);
    return this.bytes[offset]! | (this.bytes[offset + 1]! << 8) | (this.bytes[offset + 2]! << 16);
  }

  u32(offset: number): number {
    this.need(offset, 4);
    return (
      (this.bytes[offset]! | (this.bytes[offset + 1]! << 8) | (this.bytes[offset + 2]! << 16)) +
      this.bytes[offset + 3]! * 0x1000000
    );
  }

  u64(offset: number): bigint {
    this.need(offset, 8);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + offset, 8).readBigUInt64LE(0);
  }
}
