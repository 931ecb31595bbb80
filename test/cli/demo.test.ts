// `chrysalis demo` unattended, as the README runs it: the whole product on one machine converges — every
// node attested through the real service, every replica placed, attested and Ready, usage metered,
// committed on the sandbox chain and paid to providers until paid == committed == metered — and the JSON
// summary on stdout agrees with what `kubectl get` shows on the demo's cluster (kept up by --keep).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { removeDemoLogDir } from './_demo-log-dir.js';

// The must-show is `--nodes 50 --pools 5` (about 80 s on an idle 2-core machine; run it with
// CHRYSALIS_DEMO_NODES=50 CHRYSALIS_DEMO_POOLS=5). The suite runs a smaller fleet by default: beside the
// other integration files on 2 cores, 50 in-process attesters starved the demo past any sane timeout.
const NODES = Number(process.env.CHRYSALIS_DEMO_NODES ?? 20);
const POOLS = Number(process.env.CHRYSALIS_DEMO_POOLS ?? 3);

function kubectlJson<T>(kubeconfig: string, args: string[]): T {
  const bin = join(process.env.CHRYSALIS_BIN_DIR ?? '', 'kubectl');
  return JSON.parse(execFileSync(bin, ['--kubeconfig', kubeconfig, ...args, '-o', 'json'], { encoding: 'utf8' })) as T;
}

function kubectlTable(kubeconfig: string, args: string[]): Array<Record<string, string>> {
  const bin = join(process.env.CHRYSALIS_BIN_DIR ?? '', 'kubectl');
  const [header, ...rows] = execFileSync(bin, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' }).trim().split('\n');
  const cols = header!.split(/\s{2,}/);
  return rows.map((r) => Object.fromEntries(r.split(/\s{2,}/).map((v, i) => [cols[i]!, v])));
}

test(`chrysalis demo --nodes ${NODES} --pools ${POOLS} --until-ready -o json converges and its summary agrees with kubectl get`, async (t) => {
  t.timeout(720_000); // ~90 s on an idle 2-core machine; the margin is for a loaded one
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', '--nodes', String(NODES), '--pools', String(POOLS), '--until-ready', '--keep', '--timeout', '540', '-o', 'json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  t.teardown(() => {
    child.kill('SIGKILL');
    removeDemoLogDir(err);
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  // The summary line comes out while the cluster is still up (--keep).
  const summaryLine = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve(line);
    });
    void exited.then((c) => reject(new Error(`demo exited ${c} before its summary; stderr tail: ${err.slice(-1500)}`)));
    // Fail with the demo's own progress lines rather than a bare ava timeout.
    setTimeout(() => reject(new Error(`no summary after 600 s; stderr tail: ${err.slice(-3000)}`)), 600_000).unref();
  });
  const summary = JSON.parse(summaryLine) as Record<string, number | boolean>;
  t.deepEqual(Object.keys(summary).sort(), ['converged', 'elapsedSeconds', 'nodesAttested', 'replicasReady', 'settlementTransactions', 'unitsCommitted', 'unitsMetered', 'unitsPaid']);
  t.true(summary.converged, `demo did not converge: ${summaryLine}; stderr tail: ${err.slice(-1500)}`);
  t.is(summary.nodesAttested, NODES);
  t.is(summary.replicasReady, POOLS * 2);
  t.true((summary.settlementTransactions as number) >= 1);
  t.true((summary.unitsMetered as number) > 0);
  t.is(summary.unitsPaid, summary.unitsMetered, 'paid == metered');
  t.is(summary.unitsCommitted, summary.unitsMetered, 'committed == metered');
  // Providers claimed what the confirmed epochs owed them. Which epoch is the first with claims depends on
  // when the first usage report lands (an epoch can confirm before any replica has reported), so the test
  // asserts that some epoch's claims paid someone, not which epoch; paid == committed == metered above is
  // what says nothing was lost.
  const claimLines = [...err.matchAll(/claims for epoch \d+: (\d+) payees? paid (\d+) units/g)];
  t.true(claimLines.some(([, payees, units]) => Number(payees) > 0 && Number(units) > 0), `no epoch's claims paid anyone; stderr tail: ${err.slice(-1500)}`);

  // The same numbers as a kubectl user reads them.
  const kubeconfig = /kubeconfig: (\S+)/.exec(err)?.[1];
  t.truthy(kubeconfig, 'the demo prints its kubeconfig');
  const pns = kubectlJson<{ items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> }>(kubeconfig!, ['get', 'providernodes']);
  t.is(pns.items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True')).length, summary.nodesAttested as number);
  const pools = kubectlTable(kubeconfig!, ['get', 'inferencepools', '-n', 'chrysalis-demo']);
  t.is(pools.length, POOLS);
  t.is(pools.reduce((s, p) => s + Number(p.READY), 0), summary.replicasReady as number);
  for (const p of pools) t.is(p.ATTESTED, p.DESIRED, `pool ${p.NAME}: every replica attested`);
  const [account] = kubectlTable(kubeconfig!, ['get', 'settlementaccounts', '-n', 'chrysalis-demo']);
  t.is(Number(account!.PAID), summary.unitsPaid as number);
  t.is(Number(account!.COMMITTED), summary.unitsCommitted as number);
  t.is(account!.SYNCED, 'True');

  child.kill('SIGTERM');
  t.is(await exited, 0, `exit 0 after converging; stderr tail: ${err.slice(-500)}`);
});

test('chrysalis demo with a bad flag exits 2 with a one-line message', async (t) => {
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', '--nodes', 'many'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.is(code, 2);
  t.regex(err.trim(), /^error: --nodes must be a whole number/);
});
