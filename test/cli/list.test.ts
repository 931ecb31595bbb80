// `chrysalis nodes`, `pools` and `status` against the real apiserver, run as a user runs them: a child
// process with KUBECONFIG set, output read from its stdout, exit codes checked.
import test from 'ava';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { attestedStatus, createAccount, condition, createPool, createProviderNode, quarantinedStatus, runCli, RUN_LABEL, uniqueRun } from './helpers.js';

test('nodes lists attested and quarantined hosts with the reason, and -o json parses', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const run = uniqueRun();
  await createProviderNode(t, kc, `cli-ok-${run}`, run, {}, attestedStatus());
  await createProviderNode(t, kc, `cli-bad-${run}`, run, { tee: 'tdx' }, quarantinedStatus());
  const env = { KUBECONFIG: cluster.kubeconfigPath };

  const table = await runCli(['nodes', '-l', `${RUN_LABEL}=${run}`], env);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^NAME\s+NODE\s+TEE\s+GPUS\s+ATTESTED\s+QUARANTINED\s+REASON\s+EXPIRES\s+AGE$/);
  t.is(lines.length, 3);
  const bad = lines.find((l) => l.startsWith(`cli-bad-${run}`))!;
  const ok = lines.find((l) => l.startsWith(`cli-ok-${run}`))!;
  t.regex(bad, /tdx\s+0\/8 H100\s+no\s+yes\s+EVIDENCE_EXPIRED/);
  t.regex(ok, /sev-snp\s+2\/8 H100\s+yes\s+no\s+(59m|1h)\s+\d+s$/);
  t.false(table.stdout.includes('\u001b['), 'no colour codes when stdout is a pipe');

  const json = await runCli(['nodes', '-l', `${RUN_LABEL}=${run}`, '-o', 'json'], env);
  t.is(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as { kind: string; items: Array<{ metadata: { name: string }; status: { quarantine?: { reason: string } } }> };
  t.is(list.kind, 'List');
  t.deepEqual(list.items.map((i) => i.metadata.name).sort(), [`cli-bad-${run}`, `cli-ok-${run}`]);
  t.is(list.items.find((i) => i.metadata.name === `cli-bad-${run}`)!.status.quarantine?.reason, 'EVIDENCE_EXPIRED');

  const yaml = await runCli(['nodes', '-l', `${RUN_LABEL}=${run}`, '-o', 'yaml'], env);
  t.is(yaml.code, 0);
  t.regex(yaml.stdout, /^apiVersion: v1\nkind: List\nitems:/);
});

test('pools lists the namespace\'s pools with readiness, and status exits 1 while a pool is not Ready or a node is quarantined', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const ns = await useNamespace(t, 'cli-pools');
  const run = uniqueRun();
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  await createPool(t, kc, ns, 'ready-pool', run, {
    replicas: { desired: 2, placed: 2, attested: 2, ready: 2 }, gpus: 4,
    conditions: [condition('Ready', 'True', 'ReplicasReady', '2 of 2 ready')],
  });
  await createAccount(t, kc, ns, 'sandbox', run);
  // Metered usage lives on the hosts, per SettlementAccount: this account's counts, and another
  // namespace's that the namespace's status must not add in.
  await createProviderNode(t, kc, `cli-st-${run}`, run, {}, {
    ...attestedStatus(),
    usage: [
      { account: `${ns}/sandbox`, promptTokens: '1000', generationTokens: '500', gpuSeconds: '40', units: '1500' },
      { account: 'elsewhere/sandbox', promptTokens: '7', generationTokens: '7', gpuSeconds: '7', units: '14' },
    ],
  });

  const pools = await runCli(['pools', '-n', ns], env);
  t.is(pools.code, 0, pools.stderr);
  t.regex(pools.stdout, /^NAME\s+MODEL\s+READY\s+PLACED\s+ATTESTED\s+GPUS\s+STATUS\s+REASON\s+AGE\n/);
  t.regex(pools.stdout, /ready-pool\s+meta-llama\/Llama-3.1-8B-Instruct\s+2\/2\s+2\s+2\s+4\s+True\s+\d+s\n/);

  const healthy = await runCli(['status', '-n', ns, '-l', `${RUN_LABEL}=${run}`], env);
  t.is(healthy.code, 0, healthy.stdout + healthy.stderr);
  t.regex(healthy.stdout, /Health:\s+OK/);
  t.regex(healthy.stdout, /Pools:\s+1\/1 ready, 2\/2 replicas attested/);
  t.regex(healthy.stdout, /Usage:\s+1500 units, 1000 prompt \+ 500 generated tokens, 40 GPU-seconds/);

  await createPool(t, kc, ns, 'stuck-pool', run, {
    replicas: { desired: 2, placed: 0 },
    conditions: [condition('Ready', 'False', 'NoReplicas'), condition('Degraded', 'True', 'InsufficientAttestedCapacity', '2 of 2 replicas unplaced')],
  });
  await createProviderNode(t, kc, `cli-st-q-${run}`, run, {}, quarantinedStatus());
  const degraded = await runCli(['status', '-n', ns, '-l', `${RUN_LABEL}=${run}`], env);
  t.is(degraded.code, 1, degraded.stdout + degraded.stderr);
  t.regex(degraded.stdout, /Health:\s+DEGRADED/);
  t.regex(degraded.stdout, new RegExp(`${ns}/stuck-pool\\s+InsufficientAttestedCapacity`));
  t.regex(degraded.stdout, new RegExp(`cli-st-q-${run}\\s+quarantined\\s+EVIDENCE_EXPIRED`));

  const json = await runCli(['status', '-n', ns, '-l', `${RUN_LABEL}=${run}`, '-o', 'json'], env);
  t.is(json.code, 1);
  const summary = JSON.parse(json.stdout) as { healthy: boolean; nodes: { quarantined: number } };
  t.false(summary.healthy);
  t.is(summary.nodes.quarantined, 1);

  const all = await runCli(['pools', '-A', '-l', `${RUN_LABEL}=${run}`], env);
  t.regex(all.stdout, /^NAMESPACE\s+NAME/);
  t.regex(all.stdout, new RegExp(`${ns}\\s+stuck-pool`));
});
