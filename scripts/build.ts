// `npm run build`: the JavaScript that `npm pack` ships and the images run, in dist/.
//   1. dist/ is removed, so nothing compiled from a deleted source survives;
//   2. tsc -p tsconfig.build.json compiles operator/src, attester/src and cli/src (and what they import)
//      to dist/<same path>.js;
//   3. the files tsc does not emit (the Tolk contract, the control plane's reaper script) are copied from
//      each compiled folder's source beside its JavaScript, which reads them through import.meta.url.
// Development needs none of this: tests, `npm run operator` and the bin shims run the TypeScript through tsx.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

// Everything goes to stderr: `npm pack --json` runs this as prepack and its stdout must stay JSON.
const say = (line: string) => process.stderr.write(`${line}\n`);

rmSync(dist, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 2, 2] });
} catch {
  say('build failed: tsc reported the errors above');
  process.exit(1);
}

/** Copies into each folder of dist/ that tsc wrote JavaScript to the source folder's files that are neither TypeScript nor tests. */
function copyAssets(outDir: string): number {
  let copied = 0;
  const entries = readdirSync(outDir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.isDirectory()) copied += copyAssets(join(outDir, entry.name));
  }
  const sourceDir = join(root, relative(dist, outDir));
  if (!entries.some((e) => e.isFile() && e.name.endsWith('.js')) || !existsSync(sourceDir)) return copied;
  for (const entry of readdirSync(sourceDir, { withFileTypes: true })) {
    if (!entry.isFile() || /\.(ts|tsx|mts|cts)$/.test(entry.name) || /\.test\./.test(entry.name)) continue;
    copyFileSync(join(sourceDir, entry.name), join(outDir, entry.name));
    copied++;
  }
  return copied;
}

const copied = copyAssets(dist);
say(`built ${relative(root, dist)}/ (${copied} non-TypeScript files copied beside the JavaScript)`);
