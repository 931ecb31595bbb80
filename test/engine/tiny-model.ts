// The tiny llama test model written to a temporary file, for the engine's tests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';

export async function writeTinyModel(seed = 1): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'chrysalis-tiny-model-'));
  const path = join(dir, `tiny-llama-${seed}.gguf`);
  await writeFile(path, tinyLlamaGguf(seed));
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}
