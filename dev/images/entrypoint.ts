// What an image's ENTRYPOINT runs: node, the V8/node flags the image starts it with, and the script.
// The benches start the operator with the same flags as its image (images/operator/Dockerfile), so a
// figure measured here is the one a cluster gets; the Dockerfile is the one place they are written.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ImageEntrypoint {
  /** The node binary's path in the image. */
  node: string;
  /** The flags between node and the script (e.g. V8 heap tuning). */
  nodeFlags: string[];
  /** The script's path in the image (under /app). */
  script: string;
}

/** The exec-form ENTRYPOINT of images/<image>/Dockerfile, split into node, its flags and the script. */
export function imageEntrypoint(image: 'operator' | 'attester' | 'engine-cpu'): ImageEntrypoint {
  const dockerfile = readFileSync(join(root, 'images', image, 'Dockerfile'), 'utf8');
  const line = /^ENTRYPOINT (\[.+\])$/m.exec(dockerfile);
  if (!line) throw new Error(`images/${image}/Dockerfile has no exec-form ENTRYPOINT ["node", ..., "script.js"]`);
  const argv = JSON.parse(line[1]!) as string[];
  if (argv.length < 2 || !argv.every((a) => typeof a === 'string')) throw new Error(`images/${image}/Dockerfile: ENTRYPOINT must list node and a script, got ${line[1]}`);
  return { node: argv[0]!, nodeFlags: argv.slice(1, -1), script: argv[argv.length - 1]! };
}
