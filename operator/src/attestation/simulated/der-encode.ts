// Just enough DER encoding (ITU-T X.690) to write the simulated TEE's certificates: TBSCertificate fields
// and the vendor-specific extensions (AMD VCEK SPLs/hwID/productName, the GPU leaf's SHA-384 FWID).

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

export function tlv(tag: number, content: Uint8Array | number[]): Uint8Array {
  const c = content instanceof Uint8Array ? content : Uint8Array.from(content);
  const header = [tag, ...length(c.length)];
  const out = new Uint8Array(header.length + c.length);
  out.set(header);
  out.set(c, header.length);
  return out;
}

function concat(items: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(items));
}

/** Non-negative INTEGER from a number or big-endian bytes. */
export function derInteger(value: number | Uint8Array): Uint8Array {
  let bytes: number[];
  if (typeof value === 'number') {
    bytes = [];
    let v = value;
    do {
      bytes.unshift(v & 0xff);
      v = Math.floor(v / 256);
    } while (v > 0);
  } else {
    bytes = [...value];
    while (bytes.length > 1 && bytes[0] === 0) bytes.shift();
  }
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, bytes);
}

export function derBoolean(value: boolean): Uint8Array {
  return tlv(0x01, [value ? 0xff : 0x00]);
}

export function derIa5String(text: string): Uint8Array {
  return tlv(0x16, Buffer.from(text, 'ascii'));
}

export function derUtf8String(text: string): Uint8Array {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

export function derPrintableString(text: string): Uint8Array {
  return tlv(0x13, Buffer.from(text, 'ascii'));
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return tlv(0x04, bytes);
}

/** BIT STRING with `unused` unused bits in the last byte. */
export function derBitString(bytes: Uint8Array, unused = 0): Uint8Array {
  return tlv(0x03, concat([Uint8Array.of(unused), bytes]));
}

/** OBJECT IDENTIFIER; arcs as BigInt, since a 2.25.<UUID> arc is a 128-bit integer. */
export function derOid(oid: string): Uint8Array {
  const parts = oid.split('.').map((arc) => BigInt(arc));
  const out: number[] = [];
  for (const part of [parts[0]! * 40n + parts[1]!, ...parts.slice(2)]) {
    const chunk: number[] = [];
    let v = part;
    do {
      chunk.unshift(Number(v & 0x7fn) | (chunk.length ? 0x80 : 0));
      v >>= 7n;
    } while (v > 0n);
    out.push(...chunk);
  }
  return tlv(0x06, out);
}

export function derSequence(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, concat(items));
}

export function derSet(...items: Uint8Array[]): Uint8Array {
  return tlv(0x31, concat(items));
}

/** Context-specific constructed tag [n] (EXPLICIT wrapping). */
export function derExplicit(n: number, inner: Uint8Array): Uint8Array {
  return tlv(0xa0 | n, inner);
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function derTime(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}
