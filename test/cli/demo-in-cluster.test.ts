// `chrysalis demo --in-cluster`: the chart installs the operator, the attestation service and the attester
// as Pods on a real node (images built here), the kwok fleet gives scale, and the run converges like the
// in-process demo — every pool Ready, paid == committed == metered > 0 — where the metered units are the
// tokens a real model served: one more pool's replica runs the tiny llama on the real node and the demo
// sends it verified chat completions (inferenceRequests; unitsMetered == tokensServed). The summary says
// the operator ran in-cluster and names its Pods, which kubectl shows Running on the real node under the
// chart's ServiceAccount while the cluster is kept up (--keep). Needs root (the real node).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { controlPlaneBinaries } from '../../dev/cluster/binaries.js';
import { removeDemoLogDir } from './_demo-log-dir.js';

test('chrysalis demo --in-cluster --nodes 5 --pools 1 --until-ready -o json converges with the operator running as Pods', async (t) => {
  t.timeout(1_200_000);
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', '--in-cluster', '--nodes', '5', '--pools', '1', '--until-ready', '--keep', '--timeout', '900', '-o', 'json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 120_000))]);
    child.kill('SIGKILL');
    removeDemoLogDir(err);
  });
  const summaryLine = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve(line);
    });
    void exited.then((c) => reject(new Error(`demo exited ${c} before its summary; stderr tail: ${err.slice(-3000)}`)));
  });
  const summary = JSON.parse(summaryLine) as Record<string, unknown>;
  t.true(summary.converged, `not converged: ${summaryLine}; stderr tail: ${err.slice(-2000)}`);
  t.is(summary.operator, 'in-cluster');
  const paid = summary.unitsPaid as number;
  t.true(paid > 0);
  t.is(paid, summary.unitsCommitted as number);
  t.is(paid, summary.unitsMetered as number);
  // The metered units are tokens a model served: the served pool's replica answered real requests, and
  // with the default token prices and the real node's coefficient of 1000 a token is a unit.
  t.true((summary.inferenceRequests as number) > 0, summaryLine);
  t.is(summary.unitsMetered, summary.tokensServed, 'units metered == prompt + completion tokens the demo\'s client received');
  const pods = summary.operatorPods as string[];
  t.true(Array.isArray(pods) && pods.length >= 1, summaryLine);

  // While --keep holds the cluster: those Pods run on the real node as the chart's ServiceAccount.
  const kubeconfig = /kubeconfig: (\S+)/.exec(err)?.[1];
  t.truthy(kubeconfig, 'the demo names its kubeconfig');
  const { binDir } = await controlPlaneBinaries();
  const list = JSON.parse(execFileSync(join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig!, 'get', 'pods', '-n', 'chrysalis-system', '-o', 'json'], { encoding: 'utf8' })) as
    { items: { metadata: { name: string }; spec: { nodeName: string; serviceAccountName: string }; status: { phase: string } }[] };
  const nodes = JSON.parse(execFileSync(join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig!, 'get', 'nodes', '-l', 'nvidia.com/gpu.present=true', '-o', 'json'], { encoding: 'utf8' })) as
    { items: { metadata: { name: string } }[] };
  const realNode = nodes.items[0]?.metadata.name;
  for (const name of pods) {
    const pod = list.items.find((p) => p.metadata.name === name);
    t.is(pod?.status.phase, 'Running', name);
    t.is(pod?.spec.nodeName, realNode, `${name} runs on the real node`);
    t.is(pod?.spec.serviceAccountName, 'chrysalis-operator');
  }
  t.true(list.items.some((p) => p.metadata.name.startsWith('chrysalis-attester-') && p.status.phase === 'Running'), 'the attester DaemonSet runs on the real node');
});
