// The directory that holds the nearest package.json above a module: the repository root when the module
// runs from its TypeScript source, the installed package's root when it runs compiled from dist/ (where
// a fixed number of '..' would land inside dist/). Files shipped beside package.json (crds/, scripts/)
// are found from here in both.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json in ${start} or any folder above it`);
  }
}
