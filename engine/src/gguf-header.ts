// The first 24 bytes of a GGUF file, checked before llama.cpp is handed the file: node-llama-cpp's GGUF
// reader, given a file with a bad version or absurd counts, reads on instead of failing, and the engine
// would hang at start instead of exiting with a reason.
import { open } from 'node:fs/promises';

export async function checkGgufHeader(path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(24);
    const { bytesRead } = await file.read(header, 0, 24, 0);
    if (bytesRead < 24 || header.subarray(0, 4).toString('latin1') !== 'GGUF') {
      throw new Error(`${path} is not a GGUF file (no "GGUF" magic in its first bytes)`);
    }
    const version = header.readUInt32LE(4);
    if (version !== 2 && version !== 3) throw new Error(`${path}: GGUF version ${version}; llama.cpp reads versions 2 and 3`);
    const tensors = header.readBigUInt64LE(8);
    const keys = header.readBigUInt64LE(16);
    // Every tensor info and every key takes more than one byte of the file.
    if (tensors > BigInt(size) || keys > BigInt(size)) {
      throw new Error(`${path}: the header claims ${tensors} tensors and ${keys} metadata keys in ${size} bytes: the file is damaged`);
    }
  } finally {
    await file.close();
  }
}
