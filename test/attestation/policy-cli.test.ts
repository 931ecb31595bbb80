// `chrysalis attest verify` without --policy checks signatures and chains against no policy. Its JSON
// says so: "unconstrained" names every check that then accepted any value, so a "verified" there is
// never mistaken for "verified against a policy". Exit codes are unchanged.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, vectorPath } from './vectors.js';
import { testTempDir } from '../_temp-dir.js';

function verify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['cli/bin/chrysalis.js', 'attest', 'verify', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const milan = ['--type', 'sev-snp', '--evidence', vectorPath('sev-snp', 'virtee-sev/report_milan.hex'), '--cert', vectorPath('sev-snp', 'virtee-sev/vcek_milan.der'), '--at', '2025-06-01T00:00:00Z'];

test('verify without --policy reports in its JSON every check no policy constrained, and still exits 0', (t) => {
  const r = verify(...milan, '-o', 'json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { verified: boolean; unconstrained: string[] };
  t.true(out.verified);
  t.deepEqual(out.unconstrained, ['measurement', 'imageHash', 'hostData', 'tcb', 'vmpl', 'smt', 'evidenceAge']);
});

test('verify without --policy says so in the table too', (t) => {
  const r = verify(...milan);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /unconstrained: measurement, imageHash, hostData, tcb, vmpl, smt, evidenceAge \(no --policy: any value passed these checks\)/);
});

test('verify with a policy lists only what that policy leaves open', (t) => {
  const dir = testTempDir('chrysalis-policy-cli-');
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, [
    'allowedMeasurements: [7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f]',
    `allowedHostData: ['${'0'.repeat(64)}']`,
    'minimumTcb: {snp: 8}',
    'allowedVmpls: [0]',
    '',
  ].join('\n'));
  const r = verify(...milan, '--policy', file, '-o', 'json');
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual((JSON.parse(r.stdout) as { unconstrained: string[] }).unconstrained, ['imageHash', 'smt', 'evidenceAge']);
});
