// A GGUF version 3 file from metadata and f32 tensors: the format llama.cpp loads. Layout (little-endian):
//   "GGUF" magic, uint32 version 3, uint64 tensor count, uint64 metadata count;
//   metadata: string key, uint32 value type, value (arrays: uint32 element type, uint64 length, elements);
//   tensor infos: string name, uint32 dimension count, uint64 dimensions (innermost first), uint32 ggml
//   type, uint64 offset into the data section (a multiple of the alignment);
//   zero padding to the alignment, then each tensor's data, each padded to the alignment.
// Strings are uint64 byte length + UTF-8 bytes, no terminator. Only what the tiny test model needs is
// here: f32 tensors and the scalar, string and array value types its metadata uses.

const MAGIC = 'GGUF';
const VERSION = 3;
/** general.alignment's default; this writer does not write that key, so readers use this. */
export const GGUF_ALIGNMENT = 32;
const GGML_TYPE_F32 = 0;

/** GGUF metadata value types (gguf_type). */
export const GgufType = {
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
} as const;

export type GgufScalar =
  | { type: typeof GgufType.UINT32 | typeof GgufType.INT32 | typeof GgufType.FLOAT32; value: number }
  | { type: typeof GgufType.BOOL; value: boolean }
  | { type: typeof GgufType.STRING; value: string };
export type GgufValue = GgufScalar | { type: typeof GgufType.ARRAY; elementType: GgufScalar['type']; values: (number | boolean | string)[] };

export interface GgufTensor {
  name: string;
  /** Dimensions innermost first (ggml's ne[0], ne[1], …): a row-major [rows][cols] matrix is [cols, rows]. */
  dims: number[];
  data: Float32Array;
}

export const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
export const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
export const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });
export const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
export const array = (elementType: GgufScalar['type'], values: (number | boolean | string)[]): GgufValue => ({ type: GgufType.ARRAY, elementType, values });

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  i32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.push(b);
  }
  u64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  f32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    this.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad) this.push(Buffer.alloc(pad));
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeScalar(sink: ByteSink, type: GgufScalar['type'], value: number | boolean | string, key: string): void {
  switch (type) {
    case GgufType.UINT32:
      return sink.u32(value as number);
    case GgufType.INT32:
      return sink.i32(value as number);
    case GgufType.FLOAT32:
      return sink.f32(value as number);
    case GgufType.BOOL:
      return sink.push(Buffer.from([value ? 1 : 0]));
    case GgufType.STRING:
      return sink.string(value as string);
    default:
      throw new Error(`GGUF metadata ${key}: unsupported value type ${String(type)}`);
  }
}

/** Serialises metadata (in the order given) and f32 tensors into one GGUF v3 file. */
export function writeGguf(metadata: [string, GgufValue][], tensors: GgufTensor[]): Buffer {
  const sink = new ByteSink();
  sink.push(Buffer.from(MAGIC, 'ascii'));
  sink.u32(VERSION);
  sink.u64(tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.string(key);
    sink.u32(value.type);
    if (value.type === GgufType.ARRAY) {
      sink.u32(value.elementType);
      sink.u64(value.values.length);
      for (const v of value.values) writeScalar(sink, value.elementType, v, key);
    } else {
      writeScalar(sink, value.type, value.value, key);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    const elements = tensor.dims.reduce((a, b) => a * b, 1);
    if (elements !== tensor.data.length) {
      throw new Error(`GGUF tensor ${tensor.name}: dims ${tensor.dims.join('×')} hold ${elements} values, data has ${tensor.data.length}`);
    }
    sink.string(tensor.name);
    sink.u32(tensor.dims.length);
    for (const d of tensor.dims) sink.u64(d);
    sink.u32(GGML_TYPE_F32);
    sink.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((elements * 4) / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  sink.padTo(GGUF_ALIGNMENT);
  for (const tensor of tensors) {
    const bytes = Buffer.alloc(tensor.data.length * 4);
    tensor.data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
    sink.push(bytes);
    sink.padTo(GGUF_ALIGNMENT);
  }
  return sink.concat();
}
