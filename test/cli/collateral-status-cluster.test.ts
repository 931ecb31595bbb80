// `chrysalis collateral status` against the real apiserver, as a user runs it: with no attestation
// service Pod in the namespace it says where to look (exit 2); a replica whose metrics the API server's
// proxy cannot reach is reported unreadable and is not taken for healthy (exit 1).
import test from 'ava';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { runCli } from './helpers.js';

test('with no attestation service Pod in the namespace the command says to pass the operator\'s namespace (exit 2)', async (t) => {
  const cluster = await testCluster();
  const ns = await useNamespace(t, 'cli-collateral-none');
  const r = await runCli(['collateral', 'status', '-n', ns], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(r.code, 2, r.stdout + r.stderr);
  t.regex(r.stderr, new RegExp(`no running attestation service Pods \\(app.kubernetes.io/component=attestation-service\\) in namespace ${ns}: pass -n`));
});

test('a running replica whose metrics cannot be reached through the proxy is reported unreadable (exit 1)', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const ns = await useNamespace(t, 'cli-collateral-down');
  const rest = new RestClient(kc);
  t.teardown(() => rest.close());
  await rest.request('POST', resourcePath(Pods, ns), {
    body: {
      metadata: { name: 'attestation-0', labels: { 'app.kubernetes.io/component': 'attestation-service' } },
      spec: { nodeName: 'no-such-node', containers: [{ name: 'operator', image: 'example.invalid/operator:0', ports: [{ name: 'metrics', containerPort: 8080 }] }] },
    },
  });
  await rest.request('PATCH', resourcePath(Pods, ns, 'attestation-0', 'status'), { contentType: 'application/merge-patch+json', body: { status: { phase: 'Running', podIP: '192.0.2.1', podIPs: [{ ip: '192.0.2.1' }] } } });
  const r = await runCli(['collateral', 'status', '-n', ns, '-o', 'json'], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(r.code, 1, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as { healthy: boolean; replicas: Array<{ pod: string; error?: string }> };
  t.false(report.healthy);
  t.is(report.replicas[0]!.pod, 'attestation-0');
  t.truthy(report.replicas[0]!.error);
});
