// `chrysalis describe` against the real apiserver: conditions, attestation claims and the object's
// events (events.k8s.io/v1 whose `regarding` is the object), kind aliases, and a clear error otherwise.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Events, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { attestedStatus, condition, createPool, createProviderNode, runCli, uniqueRun } from './helpers.js';

test('describe pnode shows conditions, attestation claims and the node\'s events', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const run = uniqueRun();
  const name = `cli-desc-${run}`;
  const status = attestedStatus();
  // A replica's failure on the host's state, newer than the host's verification a minute ago.
  (status.attestation as Record<string, unknown>).replicaFailure = { pod: 'tenant/llm-0', code: 'GPU_CC_DISABLED', at: new Date(Date.now() - 30_000).toISOString() };
  await createProviderNode(t, kc, name, run, {}, status);
  const rest = new RestClient(kc);
  const node = await rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, name));
  const eventName = `${name}.cli`;
  await rest.request('POST', resourcePath(Events, 'default'), { body: {
    apiVersion: 'events.k8s.io/v1', kind: 'Event',
    metadata: { name: eventName, namespace: 'default' },
    eventTime: new Date().toISOString().replace('Z', '000Z'),
    reportingController: 'chrysalis.dev/operator', reportingInstance: 'test',
    action: 'Verify', reason: 'EvidenceVerified', type: 'Normal', note: `evidence of ${name} verified`,
    regarding: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', name, uid: node.metadata.uid },
  } });
  t.teardown(() => new RestClient(kc).request('DELETE', resourcePath(Events, 'default', eventName)).then(() => undefined, () => undefined));
  rest.close();
  const env = { KUBECONFIG: cluster.kubeconfigPath };

  for (const kind of ['pnode', 'providernode', 'ProviderNodes', 'providernodes.chrysalis.dev']) {
    const r = await runCli(['describe', kind, name], env);
    t.is(r.code, 0, `${kind}: ${r.stderr}`);
  }
  const r = await runCli(['describe', 'pnode', name], env);
  t.regex(r.stdout, new RegExp(`^Name:\\s+${name}\\n`));
  t.regex(r.stdout, /Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n\s+Attested\s+True\s+EvidenceVerified\s+\d+m\s+SEV-SNP and 8 GPUs verified\n/);
  t.regex(r.stdout, new RegExp(`Measurement:\\s+${'ab'.repeat(48)}`));
  t.regex(r.stdout, new RegExp(`Image hash:\\s+${'cd'.repeat(32)}`));
  t.regex(r.stdout, /TCB:\s+bootloader=3 tee=0 snp=14 microcode=209/);
  t.regex(r.stdout, new RegExp(`Chip ID:\\s+${'ef'.repeat(64)}`));
  t.regex(r.stdout, /Replica failure:\s+GPU_CC_DISABLED in replica tenant\/llm-0's evidence \(\d+s ago\): the host is re-checked ahead of its schedule\n/);
  t.regex(r.stdout, /0\s+H100\s+550\.54\.15\s+96\.00\.5E\.00\.01\s+on/);
  t.regex(r.stdout, new RegExp(`Events:\\n\\s+TYPE\\s+REASON\\s+AGE\\s+FROM\\s+MESSAGE\\n\\s+Normal\\s+EvidenceVerified\\s+\\d+[smh]\\s+chrysalis.dev/operator\\s+evidence of ${name} verified`));

  const json = await runCli(['describe', 'pnode', name, '-o', 'json'], env);
  const parsed = JSON.parse(json.stdout) as { object: { metadata: { name: string } }; events: unknown[] };
  t.is(parsed.object.metadata.name, name);
  t.is(parsed.events.length, 1);
});

test('describe ipool shows placements, and unknown kinds or names exit 2 with a one-line message', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const ns = await useNamespace(t, 'cli-desc');
  const run = uniqueRun();
  await createPool(t, kc, ns, 'p1', run, {
    replicas: { desired: 2, placed: 1 },
    placements: [{ pod: 'p1-0', node: 'gpu-a', provider: `0:${'c'.repeat(64)}` }],
    conditions: [condition('Ready', 'False', 'ReplicasNotReady', '0 of 2 ready'), condition('Degraded', 'True', 'InsufficientAttestedCapacity', '1 of 2 replicas unplaced')],
  });
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const r = await runCli(['describe', 'ipool', 'p1', '-n', ns], env);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Degraded\s+True\s+InsufficientAttestedCapacity\s+5m\s+1 of 2 replicas unplaced/);
  t.regex(r.stdout, /Placements:\n\s+POD\s+NODE\s+PROVIDER\n\s+p1-0\s+gpu-a\s+0:c+\n/);
  t.regex(r.stdout, /Events:\n\s+<none>/);
  // Counted from the pool's Pods, of which this pool has none.
  t.regex(r.stdout, /Model check:\s+no replica built for the current spec yet\n/);

  const missing = await runCli(['describe', 'ipool', 'nope', '-n', ns], env);
  t.is(missing.code, 2);
  t.is(missing.stderr, 'error: InferencePool "nope" not found in this namespace (pass -n NAMESPACE)\n');
  const badKind = await runCli(['describe', 'gizmo', 'x'], env);
  t.is(badKind.code, 2);
  t.regex(badKind.stderr, /^error: unknown kind "gizmo": use one of providernode \(pnode\), inferencepool \(ipool\)/);
  t.is(badKind.stderr.trim().split('\n').length, 1);
});
