// `npx tsx dev/model/write-tiny-model.ts <out.gguf> [--seed N]`: writes the tiny llama test model
// (tiny-llama.ts) for a local engine or a model source. Prints the file's SHA-256.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tinyLlamaGguf } from './tiny-llama.js';

const args = process.argv.slice(2);
const out = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--seed');
const seedArg = args.includes('--seed') ? args[args.indexOf('--seed') + 1] : '1';
const seed = Number(seedArg);
if (!out || !Number.isInteger(seed) || seed < 0) {
  process.stderr.write('usage: write-tiny-model.ts <out.gguf> [--seed N]  (N: a non-negative integer)\n');
  process.exit(2);
}
const bytes = tinyLlamaGguf(seed);
writeFileSync(out, bytes);
process.stdout.write(`${createHash('sha256').update(bytes).digest('hex')}  ${out}\n`);
