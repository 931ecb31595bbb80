// `chrysalis attest verify` on TDX collateral forged by appending a second "tcbInfo" after Intel's signed
// one: rejected (exit 1) with a reason code in the usual JSON, never verified.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, vectorPath } from './vectors.js';
import { testTempDir } from '../_temp-dir.js';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['cli/bin/chrysalis.js', 'attest', 'verify', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const source = vectorPath('tdx', 'attestation-rs');
const work = testTempDir('chrysalis-forged-collateral-');
const genuineDir = join(work, 'genuine');
const forgedDir = join(work, 'forged');
for (const dir of [genuineDir, forgedDir]) {
  spawnSync('mkdir', ['-p', dir]);
  for (const name of readdirSync(source)) copyFileSync(join(source, name), join(dir, name));
}
// Every TCB level UpToDate with no advisories, appended as a second member after Intel's signed one.
const genuine = readFileSync(join(source, 'tcb_info_50806f000000.json'), 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const inner = (JSON.parse(genuine) as any).tcbInfo;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const forgedInner = { ...inner, nextUpdate: '2099-01-01T00:00:00Z', tcbLevels: inner.tcbLevels.map(({ advisoryIDs: _a, ...l }: any) => ({ ...l, tcbStatus: 'UpToDate' })) };
writeFileSync(join(forgedDir, 'tcb_info_50806f000000.json'), `${genuine.slice(0, genuine.lastIndexOf('}'))},"tcbInfo":${JSON.stringify(forgedInner)}}`);
const policy = join(work, 'patched-only.yaml');
writeFileSync(policy, 'apiVersion: chrysalis.dev/v1alpha1\nkind: AttestationPolicy\nmetadata:\n  name: patched-only\nspec:\n  debugAllowed: true\n  tdx:\n    acceptedTcbStatuses: [UpToDate]\n');
const args = (dir: string) => ['--type', 'tdx', '--evidence', vectorPath('tdx', 'trustee/tdx_quote_4.dat'), '--collateral', dir, '--policy', policy, '--at', '2026-03-20T00:00:00Z', '-o', 'json'];

test('with the genuine collateral the OutOfDate platform is rejected by an UpToDate-only policy (the baseline)', (t) => {
  const r = cli(...args(genuineDir));
  t.is(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout);
  t.is(out.claims.tcbStatus, 'OutOfDate');
  t.deepEqual(out.reasons.map((x: { code: string }) => x.code), ['TCB_STATUS_UNACCEPTABLE']);
});

test('attest verify exits 1 with COLLATERAL_INVALID on a TCB info with a forged second tcbInfo appended', (t) => {
  const r = cli(...args(forgedDir));
  t.is(r.code, 1, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout);
  for (const key of ['verified', 'type', 'claims', 'reasons']) t.true(key in out, key);
  t.false(out.verified);
  t.is(out.type, 'tdx');
  t.not(out.claims.tcbStatus, 'UpToDate');
  t.deepEqual(out.reasons.map((x: { code: string }) => x.code), ['COLLATERAL_INVALID']);
  t.regex(out.reasons[0].message, /"tcbInfo" appears twice/);
});
