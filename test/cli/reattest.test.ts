// `chrysalis reattest` against the real apiserver, as a user runs it: it annotates exactly the nodes asked
// for, writes nothing when one of them does not exist, and with --wait follows the re-check to its verdict.
// No operator runs here: the test writes what the controller and the attestation service would.
import test, { type ExecutionContext } from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../operator/src/marks.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster } from '../cluster/index.js';
import { attestedStatus, createProviderNode, runCli, RUN_LABEL, uniqueRun } from './helpers.js';

async function setup(t: ExecutionContext, count: number) {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const run = uniqueRun();
  const names = Array.from({ length: count }, (_, i) => `cli-reattest-${i}-${run}`);
  for (const name of names) await createProviderNode(t, kc, name, run, {}, attestedStatus());
  const rest = new RestClient(kc);
  t.teardown(() => rest.close());
  const get = (name: string) => rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, name));
  const requestOf = async (name: string) => (await get(name)).metadata.annotations?.[ANNOTATION_REATTEST_REQUEST];
  return { env: { KUBECONFIG: cluster.kubeconfigPath }, run, names, rest, get, requestOf };
}

test('reattest annotates the nodes named or selected, and nothing when a name does not exist or none is given', async (t) => {
  const { env, run, names, requestOf } = await setup(t, 2);
  const none = await runCli(['reattest'], env);
  t.is(none.code, 2, none.stderr);
  t.regex(none.stderr, /name the ProviderNodes to re-check.*-l SELECTOR or --all/);

  const missing = await runCli(['reattest', names[0]!, `no-such-node-${run}`], env);
  t.is(missing.code, 2, missing.stderr);
  t.regex(missing.stderr, new RegExp(`ProviderNode "no-such-node-${run}" not found`));
  t.is(await requestOf(names[0]!), undefined, 'nothing written when one name is wrong');

  const badTimeout = await runCli(['reattest', names[0]!, '--wait', '--timeout', 'soon'], env);
  t.is(badTimeout.code, 2);
  t.regex(badTimeout.stderr, /--timeout must be a whole number of seconds/);
  t.is(await requestOf(names[0]!), undefined);

  const selected = await runCli(['reattest', '-l', `${RUN_LABEL}=${run}`], env);
  t.is(selected.code, 0, selected.stderr);
  t.regex(selected.stdout, new RegExp(`re-check requested for 2 ProviderNode\\(s\\): ${names[0]}, ${names[1]}`));
  const values = await Promise.all(names.map(requestOf));
  t.truthy(values[0]);
  t.is(values[0], values[1], 'one request, one value');
  t.false(Number.isNaN(Date.parse(values[0]!)), 'the value is the time of the request');
});

test('reattest --wait follows the answering challenge to its verdict: exit 0 when verified, 1 when rejected or not judged in time', async (t) => {
  const { env, run, names, rest, requestOf } = await setup(t, 2);
  const status = (name: string, attestation: Record<string, unknown>) =>
    rest.request('PATCH', resourcePath(ProviderNodes, undefined, name, 'status'), { contentType: 'application/merge-patch+json', body: { status: { attestation } } });
  // Plays the controller (answers the request with a challenge) and the service (a final verdict, consuming it).
  const answer = async (name: string, verdict: Record<string, unknown>) => {
    let value: string | undefined;
    for (let i = 0; i < 300 && !(value = await requestOf(name)); i++) await new Promise((r) => setTimeout(r, 100));
    if (!value) throw new Error(`no request on ${name}`);
    const issued = new Date();
    await status(name, { reattestRequest: value, challenge: { nonce: 'b'.repeat(64), issuedAt: issued.toISOString(), expiresAt: new Date(issued.getTime() + 300_000).toISOString() } });
    await new Promise((r) => setTimeout(r, 2500)); // a poll or two sees it pending
    await status(name, { challenge: null, ...verdict });
  };

  const verified = runCli(['reattest', names[0]!, '--wait', '--timeout', '60'], env);
  await answer(names[0]!, { verifiedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  const ok = await verified;
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, new RegExp(`${names[0]}: verified — evidence verified at`));
  // describe shows the request and that the controller answered it.
  const described = await runCli(['describe', 'pnode', names[0]!], env);
  t.regex(described.stdout, new RegExp(`Re-check asked:\\s+${(await requestOf(names[0]!))!.replace(/\./g, '\\.')} \\(challenged\\)`));

  // A selection is followed with one list per poll: one node passes, the other is rejected, so exit 1.
  const before = await requestOf(names[0]!);
  const selected = runCli(['reattest', '-l', `${RUN_LABEL}=${run}`, '--wait', '--timeout', '60'], env);
  for (let i = 0; i < 300 && (await requestOf(names[0]!)) === before; i++) await new Promise((r) => setTimeout(r, 100));
  await Promise.all([
    answer(names[0]!, { verifiedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() }),
    answer(names[1]!, { lastFailure: { code: 'GPU_CC_DISABLED', message: 'GPU 0 reports confidential computing off', at: new Date().toISOString() } }),
  ]);
  const bad = await selected;
  t.is(bad.code, 1, bad.stdout + bad.stderr);
  t.regex(bad.stdout, new RegExp(`${names[0]}: verified — `));
  t.regex(bad.stdout, new RegExp(`${names[1]}: REJECTED — GPU_CC_DISABLED`));

  // Nobody answers: the CLI gives up at its timeout and says what it was waiting for.
  const late = await runCli(['reattest', names[0]!, '--wait', '--timeout', '3'], env);
  t.is(late.code, 1, late.stdout + late.stderr);
  t.regex(late.stdout, new RegExp(`${names[0]}: not judged within 3 s — waiting for the operator to challenge it`));
});
