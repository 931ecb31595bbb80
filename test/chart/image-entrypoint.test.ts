// The closest this machine gets to "build the image and run its entrypoint's --version" (no registry, so
// no base image; see images/README.md): do what the Dockerfiles' build stage does — tsc with
// tsconfig.build.json, copy the non-TypeScript files beside the output — and run each ENTRYPOINT script
// with plain node (no tsx), as the distroless runtime would.
import test from 'ava';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './helm.js';
import { imageEntrypoint } from '../../dev/images/entrypoint.js';

const run = promisify(execFile);
const app = mkdtempSync(join(tmpdir(), 'chrysalis-image-'));
test.after.always(() => rmSync(app, { recursive: true, force: true }));

function copyAssets(dir: string): void {
  for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(rel);
    else if (!entry.name.endsWith('.ts')) {
      mkdirSync(dirname(join(app, 'dist', rel)), { recursive: true });
      copyFileSync(join(repoRoot, rel), join(app, 'dist', rel));
    }
  }
}

const built = (async () => {
  await run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { cwd: repoRoot, maxBuffer: 16 << 20 });
  copyAssets('operator/src');
  copyAssets('attester/src');
  cpSync(join(repoRoot, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(app, 'node_modules'));
})();

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

for (const image of ['operator', 'attester'] as const) {
  test(`the compiled ${image} entrypoint answers --version with the package version`, async (t) => {
    await built;
    // With the image's node flags: a flag this node does not know would stop the container at start.
    const { nodeFlags, script: entry } = imageEntrypoint(image);
    const script = join(app, relative('/app', entry));
    const r = await run(process.execPath, [...nodeFlags, script, '--version'], { cwd: app, env: { ...process.env, NODE_ENV: 'production' }, timeout: 60_000 })
      .then((o) => ({ code: 0, ...o }))
      .catch((e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
    t.is(r.code, 0, `node ${entry} --version failed:\n${r.stderr.split('\n').slice(0, 8).join('\n')}`);
    t.is(r.stdout.trim(), version);
  });
}
