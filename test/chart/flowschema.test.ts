// The operator's Lease requests get the apiserver's leader-election priority level (API Priority and
// Fairness), so a saturated apiserver does not hold back the leader's renewals with the rest of its
// requests. Rendered: one FlowSchema for the operator's ServiceAccount and the lease namespace only. On
// the real apiserver: a Lease request of that ServiceAccount is classified there (the apiserver names the
// FlowSchema and priority level it used in each response's X-Kubernetes-PF-* headers), and its other
// requests are not.
import test from 'ava';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { RestClient } from '../../operator/src/kube/rest.js';
import { testCluster } from '../cluster/index.js';
import { applyChartRbac, serviceAccountUser } from './as-serviceaccount.js';
import { find, one, render, type K8sObject } from './helm.js';

type FlowSchema = K8sObject & { spec: { priorityLevelConfiguration: { name: string }; matchingPrecedence: number; rules: Array<{ subjects: Array<{ kind: string; serviceAccount?: { namespace: string; name: string } }>; resourceRules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; namespaces: string[] }> }> } };

test('one FlowSchema sends the operator ServiceAccount\'s Lease requests in the lease namespace to leader-election', async (t) => {
  const fs = one(await render({ release: 'chry', namespace: 'chrysalis-system', set: ['operator.leaderElection.namespace=leases'] }), 'FlowSchema') as FlowSchema;
  t.is(fs.spec.priorityLevelConfiguration.name, 'leader-election');
  t.true(fs.spec.matchingPrecedence < 9000, 'ahead of the built-in service-accounts schema');
  t.deepEqual(fs.spec.rules, [{
    subjects: [{ kind: 'ServiceAccount', serviceAccount: { namespace: 'chrysalis-system', name: 'chry-chrysalis-operator' } }],
    resourceRules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'], namespaces: ['leases'] }],
  }]);
  t.deepEqual(find(await render({ set: ['operator.leaderElection.enabled=false'] }), 'FlowSchema'), [], 'no leader election, no FlowSchema');
  t.deepEqual(find(await render({ set: ['operator.leaderElection.flowSchema.enabled=false'] }), 'FlowSchema'), []);
});

/** GET `path` as `user` (impersonated by the admin credentials); the APF headers of the answer. */
async function classifiedAs(kc: KubeConfig, user: string, path: string): Promise<{ code: number; flowSchema: string; priorityLevel: string }> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(kc.getCurrentCluster()!.server + path);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...opts, method: 'GET', headers: { ...(opts.headers as Record<string, string>), 'Impersonate-User': user } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ code: res.statusCode ?? 0, flowSchema: String(res.headers['x-kubernetes-pf-flowschema-uid'] ?? ''), priorityLevel: String(res.headers['x-kubernetes-pf-prioritylevel-uid'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('on the real apiserver the operator\'s Lease requests are classified by that FlowSchema into leader-election, and nothing else it sends', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  const admin = new RestClient(kc);
  t.teardown(() => admin.close());
  const release = `fs${randomBytes(3).toString('hex')}`;
  const namespace = `${release}-system`;
  const objects = await render({ release, namespace });
  await applyChartRbac(admin, objects);
  const fs = one(objects, 'FlowSchema') as FlowSchema;
  const created = await admin.request<K8sObject & { metadata: { uid: string } }>('POST', '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', { body: fs });
  t.teardown(() => admin.request('DELETE', `/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/${fs.metadata.name}`).catch(() => undefined));
  const level = await admin.request<{ metadata: { uid: string } }>('GET', '/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/leader-election');
  const operator = serviceAccountUser(namespace, `${release}-chrysalis-operator`);

  // The apiserver takes up a new FlowSchema within a moment; until then the request goes elsewhere.
  const lease = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/chrysalis-operator`;
  const deadline = Date.now() + 30_000;
  let got = await classifiedAs(kc, operator, lease);
  while (got.flowSchema !== created.metadata.uid && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    got = await classifiedAs(kc, operator, lease);
  }
  t.is(got.flowSchema, created.metadata.uid, 'the operator\'s Lease GET matched the chart\'s FlowSchema');
  t.is(got.priorityLevel, level.metadata.uid, 'and went to the leader-election priority level');
  t.is(got.code, 404, 'the chart\'s Role lets it read the Lease (none exists yet)');

  for (const [user, path, what] of [
    [operator, '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/chrysalis-operator', 'a Lease in another namespace'],
    [operator, `/api/v1/namespaces/${namespace}/configmaps`, 'the operator\'s other requests'],
    [serviceAccountUser(namespace, `${release}-chrysalis-attestation`), lease, 'another ServiceAccount\'s Lease request'],
  ] as const) {
    const other = await classifiedAs(kc, user, path);
    t.truthy(other.flowSchema, `${what}: classified`);
    t.not(other.flowSchema, created.metadata.uid, `${what}: not by the chart's FlowSchema`);
    t.not(other.priorityLevel, level.metadata.uid, `${what}: not in leader-election`);
  }
});
