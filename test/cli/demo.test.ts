// `chrysalis demo` unattended: the whole product on one machine converges — every node attested through
// the real service, every replica placed, attested and Ready, usage metered, committed on the sandbox
// chain and paid to providers — and the last line of stdout is the JSON summary read from the cluster.
import test from 'ava';
import { spawn } from 'node:child_process';

test('chrysalis demo --until-ready -o json ends with a summary line of the documented shape', async (t) => {
  t.timeout(330_000);
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', '--nodes', '10', '--pools', '2', '--until-ready', '--timeout', '240', '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const last = out.trim().split('\n').at(-1) ?? '';
  const summary = JSON.parse(last) as Record<string, unknown>;
  t.deepEqual(Object.keys(summary).sort(), ['converged', 'elapsedSeconds', 'nodesAttested', 'replicasReady', 'settlementTransactions', 'unitsCommitted', 'unitsMetered', 'unitsPaid']);
  for (const k of ['nodesAttested', 'replicasReady', 'unitsMetered', 'unitsCommitted', 'unitsPaid', 'settlementTransactions', 'elapsedSeconds']) t.is(typeof summary[k], 'number', k);
  t.is(typeof summary.converged, 'boolean');
  t.is(code, summary.converged ? 0 : 1, `exit code matches converged; stderr tail: ${err.slice(-500)}`);
  t.true(summary.converged, `demo did not converge: ${last}`);
  t.is(summary.nodesAttested, 10);
  t.is(summary.replicasReady, 4);
  t.true((summary.settlementTransactions as number) >= 1);
  const [metered, committed, paid] = [summary.unitsMetered, summary.unitsCommitted, summary.unitsPaid] as number[];
  t.true(paid! > 0 && paid! <= committed! && committed! <= metered!, `0 < paid ${paid} ≤ committed ${committed} ≤ metered ${metered}`);
  t.regex(err, /claims for epoch 1: \d+ payees paid \d+ units/);
});

test('chrysalis demo with a bad flag exits 2 with a one-line message', async (t) => {
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', '--nodes', 'many'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.is(code, 2);
  t.regex(err.trim(), /^error: --nodes must be a whole number/);
});
