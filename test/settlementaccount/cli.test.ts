import test from 'ava';
import { runCli } from '../cli/helpers.js';
import { testCluster } from '../cluster/index.js';
import { addProviderNode, addReplica, getAccount, newPayout, setUpEnv } from './_env.js';
import { chainView, Clock, reconcilerOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

test('settlement status, usage and claim work from the command line against the sandbox chain', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-cli' });
  const kubeconfig = (await testCluster()).kubeconfigPath;
  const cli = (...args: string[]) => runCli(['--kubeconfig', kubeconfig, '-n', env.ns, ...args], { CHRYSALIS_LOG_LEVEL: 'error' });
  const clock = new Clock(Math.floor(Date.now() / 1000));
  const payout = newPayout();
  const pn = await addProviderNode(env, payout);
  const key = replicaKey(31);
  await addReplica(env, pn, 'r-0', key);
  t.true((await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 40, gen: 2, gpu: 3 })))).accepted);
  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, 42n);

  const status = await cli('settlement', 'status', '-o', 'json');
  t.is(status.code, 0, status.stderr);
  const listed = JSON.parse(status.stdout) as { items: Array<{ status: { totals: Record<string, string> } }> };
  t.deepEqual(listed.items[0]?.status.totals, { metered: '42', committed: '42', paid: '0' });
  const table = await cli('settlement', 'status', 'acct');
  t.is(table.code, 0);
  t.regex(table.stdout, /metered\s+committed\s+paid/i);

  const usage = await cli('usage', '-o', 'json');
  t.is(usage.code, 0, usage.stderr);
  const rows = (JSON.parse(usage.stdout) as { usage: Array<{ providerNode: string; units: string; gpuSeconds: string }> }).usage.filter((r) => r.providerNode === pn);
  t.deepEqual(rows.map((r) => [r.units, r.gpuSeconds]), [['42', '3']]);
  const byPool = await cli('usage', '--pool', 'pool', '-o', 'json');
  t.is((JSON.parse(byPool.stdout) as { units: string }).units, '42');

  // The sandbox state lies under the operator's state root, which the CLI is told like the operator is.
  const claim = await cli('settlement', 'claim', '--payee', payout.toString(), '--account', `${env.ns}/acct`, '--sandbox-dir', env.sandboxRoot, '-o', 'json');
  t.is(claim.code, 0, claim.stderr);
  t.is((JSON.parse(claim.stdout) as { outcome: string }).outcome, 'paid');
  t.is((await chainView(env, clock)).committed.paidTotal, 42n);
  const again = await cli('settlement', 'claim', '--payee', payout.toString(), '--sandbox-dir', env.sandboxRoot);
  t.is(again.code, 0);
  t.regex(again.stdout, /nothing-to-claim/);

  await reconciler.reconcile(`SettlementAccount/${env.ns}/acct`);
  t.is((await getAccount(env)).status?.totals?.paid, '42');
});

test('bad settlement input exits 2 with one line naming the flag', async (t) => {
  const kubeconfig = (await testCluster()).kubeconfigPath;
  for (const args of [
    ['settlement', 'claim', '--payee', 'not-an-address', '--account', 'x/y'],
    ['settlement', 'claim', '--account', 'x/y'],
    ['settlement', 'claim', '--payee', newPayout().toString(), '--account', 'Bad/Name/x'],
    ['usage', '--pool', 'Not_A_Pool'],
  ]) {
    const r = await runCli(['--kubeconfig', kubeconfig, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /--payee|--account|--pool/);
  }
});
