// The `chrysalis attest verify` contract scripts rely on: exit 0 verified, 1 rejected (reasons printed),
// 2 unusable input (one line, no stack trace); `-o json` prints {verified, type, claims, reasons}.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, vectorPath } from './vectors.js';
import { testTempDir } from '../_temp-dir.js';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['cli/bin/chrysalis.js', 'attest', 'verify', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const snp = (f: string) => vectorPath('sev-snp', f);
const tdx = (f: string) => vectorPath('tdx', f);
const gpu = (f: string) => vectorPath('nvidia-h100', f);

test('a real SEV-SNP report verifies: exit 0 and JSON claims with the contract names', (t) => {
  const r = cli('--type', 'sev-snp', '--evidence', snp('virtee-sev/report_milan.hex'), '--cert', snp('virtee-sev/vcek_milan.der'), '--at', '2025-06-01T00:00:00Z', '-o', 'json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.true(out.verified);
  t.is(out.type, 'sev-snp');
  t.is(out.claims.measurement, '7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f');
  t.is(out.claims.reportData.length, 128);
  t.is(out.claims.chipId.slice(0, 8), 'd49554ec');
  t.is(out.claims.tcb.raw, '0300000000000873');
  t.deepEqual(out.reasons, []);
});

test('SEV-SNP with an explicit --chain of another generation is rejected: exit 1, CHAIN_UNTRUSTED', (t) => {
  const r = cli('--type', 'sev-snp', '--evidence', snp('trustee/test-report.bin'), '--cert', snp('trustee/test-vcek.der'), '--chain', snp('go-sev-guest/ask_ark_genoa.pem'), '--at', '2025-06-01T00:00:00Z', '-o', 'json');
  t.is(r.code, 1);
  t.is(JSON.parse(r.stdout).reasons[0].code, 'CHAIN_UNTRUSTED');
});

test('a wrong --nonce is NONCE_MISMATCH (exit 1); the right short nonce is zero-padded and passes', (t) => {
  const base = ['--type', 'sev-snp', '--evidence', snp('go-sev-guest/attestation.bin'), '--cert', snp('go-sev-guest/vcek.testcer'), '--at', '2025-06-01T00:00:00Z', '-o', 'json'];
  const policyDir = testTempDir('chrysalis-attest-');
  const policy = join(policyDir, 'policy.yaml');
  writeFileSync(policy, 'apiVersion: chrysalis.dev/v1alpha1\nkind: AttestationPolicy\nmetadata:\n  name: lab\nspec:\n  debugAllowed: true\n');
  t.is(cli(...base, '--policy', policy, '--nonce', '0102030405').code, 0);
  const wrong = cli(...base, '--policy', policy, '--nonce', '0102030406');
  t.is(wrong.code, 1);
  t.deepEqual(JSON.parse(wrong.stdout).reasons.map((r: { code: string }) => r.code), ['NONCE_MISMATCH']);
  // Under the default policy the same report is a debug guest.
  t.deepEqual(JSON.parse(cli(...base).stdout).reasons.map((r: { code: string }) => r.code), ['DEBUG_ENABLED']);
});

test('TDX with a collateral directory verifies (exit 0, mrTd, rtmrs, tcbStatus); without it, COLLATERAL_MISSING (exit 1)', (t) => {
  const ok = cli('--type', 'tdx', '--evidence', tdx('go-tdx-guest/quote_v5_sample.dat'), '--collateral', tdx('attestation-rs'), '--at', '2026-03-20T00:00:00Z', '-o', 'json');
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  const out = JSON.parse(ok.stdout);
  t.is(out.claims.tcbStatus, 'UpToDate');
  t.is(out.claims.mrTd.slice(0, 16), '7348651a34b2d2d3');
  t.is(out.claims.rtmrs.length, 4);
  const missing = cli('--type', 'tdx', '--evidence', tdx('go-tdx-guest/quote_v5_sample.dat'), '--at', '2026-03-20T00:00:00Z', '-o', 'json');
  t.is(missing.code, 1);
  t.deepEqual(JSON.parse(missing.stdout).reasons.map((r: { code: string }) => r.code), ['COLLATERAL_MISSING']);
});

test('an NVIDIA report verifies with its chain and nonce (exit 0); a broken chain is rejected in table form (exit 1)', (t) => {
  const ok = cli('--type', 'nvidia-gpu', '--evidence', gpu('nvtrust/hopperAttestationReport.txt'), '--chain', gpu('nvtrust/hopperCertChain.txt'), '--nonce', '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb', '--at', '2025-06-01T00:00:00Z', '-o', 'json');
  t.is(ok.code, 0, ok.stdout);
  const out = JSON.parse(ok.stdout);
  t.is(out.claims.driverVersion, '550.90.07');
  t.is(out.claims.vbiosVersion, '96.00.9F.00.01');
  t.is(out.claims.nonce, '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb');
  const bad = cli('--type', 'nvidia-gpu', '--evidence', gpu('nvtrust/hopperAttestationReport.txt'), '--chain', gpu('trustee/hopper_cert_chain_case2.txt'), '--at', '2025-06-01T00:00:00Z');
  t.is(bad.code, 1);
  t.regex(bad.stdout, /verified: {2}no/);
  t.regex(bad.stdout, /CHAIN_UNTRUSTED/);
});

test('unusable input exits 2 with a one-line message and no stack trace', (t) => {
  const cases: string[][] = [
    ['--type', 'tdx', '--evidence', '/nonexistent/quote.dat'],
    ['--type', 'nvidia-gpu', '--evidence', gpu('nvtrust/hopperAttestationReport.txt')],
    ['--type', 'nvidia-gpu', '--evidence', gpu('nvtrust/hopperAttestationReport.txt'), '--chain', gpu('nvtrust/hopperCertChain.txt'), '--nonce', '1234'],
    ['--type', 'sev-snp', '--evidence', snp('trustee/test-report.bin'), '--at', 'yesterday'],
    ['--type', 'sev-snp', '--evidence', snp('trustee/test-report.bin'), '--nonce', 'xyz'],
    ['--type', 'sgx', '--evidence', snp('trustee/test-report.bin')],
    ['--type', 'sev-snp', '--evidence', snp('trustee/test-report.bin'), '--policy', snp('trustee/test-report.bin')],
    ['--bogus-flag'],
  ];
  for (const args of cases) {
    const r = cli(...args);
    t.is(r.code, 2, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /, `stack trace for ${args.join(' ')}`);
    t.regex(r.stderr, /error/i);
  }
});

test('--help documents the command and exits 0', (t) => {
  const r = cli('--help');
  t.is(r.code, 0);
  t.regex(r.stdout, /--type <type>/);
  t.regex(r.stdout, /--collateral <dir>/);
});
