// The package as a user gets it: `npm pack` (which builds first, through prepack) makes a tarball that
// `npm i -g` installs into a clean prefix, and the installed commands run from the compiled JavaScript
// with plain Node — no tsx, no TypeScript, nothing from this checkout but the tarball.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'chrysalis-pack-'));
const prefix = join(work, 'prefix');
const cwd = mkdtempSync(join(work, 'cwd-')); // outside the checkout, so nothing resolves from its node_modules
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

// Not the npm settings of an `npm test` that may be running this file, and no node_modules/.bin on PATH:
// the installed commands must not find the checkout's tools.
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
env.PATH = [join(prefix, 'bin'), ...(process.env.PATH ?? '').split(delimiter).filter((p) => p && !p.includes('node_modules'))].join(delimiter);

interface Result { code: number; stdout: string; stderr: string }
async function run(file: string, args: string[], options: { cwd: string; timeout: number }): Promise<Result> {
  return promisify(execFile)(file, args, { ...options, env, maxBuffer: 64 << 20 })
    .then((o) => ({ code: 0, ...o }))
    .catch((e: { code?: number | string; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(e.code) }));
}
const npm = (args: string[], dir: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeout: 600_000 });
const installed = (bin: string, args: string[]) => run(join(prefix, 'bin', bin), args, { cwd, timeout: 120_000 });

interface Packed { filename: string; files: Array<{ path: string }> }
const packed = (async (): Promise<Packed> => {
  const r = await npm(['pack', '--json', '--pack-destination', work], repoRoot);
  if (r.code !== 0) throw new Error(`npm pack failed:\n${r.stderr.slice(-3000)}`);
  return (JSON.parse(r.stdout) as Packed[])[0]!;
})();
const install = (async () => {
  const { filename } = await packed;
  // --prefer-offline: the dependencies come from npm's cache where `npm ci` left them.
  const r = await npm(['install', '--global', '--prefix', prefix, '--prefer-offline', join(work, filename)], cwd);
  if (r.code !== 0) throw new Error(`npm install -g of the tarball failed:\n${r.stderr.slice(-3000)}`);
})();

test('the tarball carries the compiled JavaScript, the CRDs, the chart and the bin shims, and no TypeScript, tests or vectors', async (t) => {
  t.timeout(600_000);
  const files = (await packed).files.map((f) => f.path);
  for (const need of [
    'cli/bin/chrysalis.js', 'cli/bin/run-entry.js', 'attester/bin/chrysalis-attester.js',
    'dist/cli/src/main.js', 'dist/operator/src/main.js', 'dist/attester/src/main.js',
    'dist/cli/src/commands/demo.js', 'dist/operator/src/settlement/contract/settlement.compiled.json',
    'crds/chrysalis.dev_providernodes.yaml', 'charts/chrysalis/Chart.yaml', 'scripts/build-control-plane.sh',
  ]) t.true(files.includes(need), `${need} is in the package`);
  t.deepEqual(files.filter((f) => /\.(ts|map)$/.test(f) && !f.endsWith('.d.ts')), [], 'no TypeScript source or source map');
  t.deepEqual(files.filter((f) => /\.test\.|(^|\/)test\/vectors\/|(^|\/)node_modules\//.test(f)), [], 'no tests, vectors or dependencies');
});

test('the installed chrysalis, kubectl-chrysalis and chrysalis-attester answer --help and --version without tsx', async (t) => {
  t.timeout(900_000);
  await install;
  const help = await installed('chrysalis', ['--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: chrysalis /m);
  t.regex(help.stdout, /^\s+attest\b/m);
  t.regex(help.stdout, /^\s+demo\b/m);
  const kubectl = await installed('kubectl-chrysalis', ['--help']);
  t.is(kubectl.code, 0, kubectl.stderr);
  t.regex(kubectl.stdout, /^Usage: kubectl chrysalis /m);
  const demoHelp = await installed('chrysalis', ['demo', '--help']);
  t.is(demoHelp.code, 0, demoHelp.stderr);
  t.regex(demoHelp.stdout, /--until-ready/);
  for (const bin of ['chrysalis', 'chrysalis-attester']) {
    const v = await installed(bin, ['--version']);
    t.is(v.code, 0, `${bin} --version: ${v.stderr}`);
    t.is(v.stdout.trim(), version);
  }
});

test('the installed chrysalis attest verify accepts real SEV-SNP evidence and rejects it with one bit flipped', async (t) => {
  t.timeout(900_000);
  await install;
  const vectors = join(repoRoot, 'test/vectors/sev-snp/virtee-sev');
  const args = (report: string) => ['attest', 'verify', '--type', 'sev-snp', '--evidence', report, '--cert', join(vectors, 'vcek_milan.der'), '--at', '2025-06-01T00:00:00Z', '-o', 'json'];
  const good = await installed('chrysalis', args(join(vectors, 'report_milan.hex')));
  t.is(good.code, 0, good.stderr);
  t.true((JSON.parse(good.stdout) as { verified: boolean }).verified);

  // The measurement (hex offset 0x90) with one bit flipped: the signature no longer covers it.
  const hex = readFileSync(join(vectors, 'report_milan.hex'), 'utf8').replace(/\s+/g, '');
  const at = 0x90 * 2;
  const flipped = join(work, 'report_milan_flipped.hex');
  writeFileSync(flipped, hex.slice(0, at) + (parseInt(hex[at]!, 16) ^ 1).toString(16) + hex.slice(at + 1));
  const bad = await installed('chrysalis', args(flipped));
  t.is(bad.code, 1, bad.stderr);
  t.false((JSON.parse(bad.stdout) as { verified: boolean }).verified);
});

test('the installed chrysalis demo converges on a small fleet', async (t) => {
  t.timeout(900_000);
  await install;
  // The control-plane binaries are the cached build (CHRYSALIS_BIN_DIR when the test runner set it,
  // otherwise the package's own scripts/build-control-plane.sh finds the cache).
  const r = await run(join(prefix, 'bin', 'chrysalis'), ['demo', '--nodes', '2', '--pools', '1', '--until-ready', '--timeout', '540', '-o', 'json'], { cwd, timeout: 600_000 });
  const summary = r.stdout.trim().split('\n').pop() ?? '';
  const logFile = /^operator logs: (\S+)/m.exec(r.stderr)?.[1];
  const warnings = logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(-5).join('\n') : '';
  t.is(r.code, 0, `the demo did not converge: ${summary}\nstderr tail:\n${r.stderr.slice(-2000)}\nlast warnings in ${logFile}:\n${warnings}`);
  if (logFile) rmSync(dirname(logFile), { recursive: true, force: true });
  t.like(JSON.parse(summary), { converged: true, nodesAttested: 2, replicasReady: 2 });
});

