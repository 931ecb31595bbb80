// Only the controllers make replica Pods: the chart's ValidatingAdmissionPolicy, on a real apiserver, refuses
// anyone else a Pod created with the pool label (or an InferencePool owner reference) and a patch that adds
// it, and lets the controllers' ServiceAccount and ordinary Pods through. The attestation service and
// metering recognise replicas by that metadata, so without the policy anyone who may create Pods in a
// namespace could pass their own Pod off as a replica by copying a real one's. Only the rendered policy and
// its binding are applied; the binding is narrowed to this test's namespace so parallel tests on the shared
// apiserver, which create replica Pods as admin, are unaffected.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiError, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED, LABEL_TEMPLATE_HASH } from '../../operator/src/marks.js';
import { loadKubeConfig, testCluster, useNamespace } from '../cluster/index.js';
import { impersonatingKubeconfig, serviceAccountUser } from './as-serviceaccount.js';
import { one, render } from './helm.js';

const SYSTEM_NS = 'chrysalis-system';
const ADMISSION = '/apis/admissionregistration.k8s.io/v1';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

const pod = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
  spec: { containers: [{ name: 'c', image: 'registry.example/none:1' }] },
});

/** The error a request failed with, or undefined when it succeeded. */
async function refusal(p: Promise<unknown>): Promise<KubeApiError | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof KubeApiError) return err;
    throw err;
  }
}

test('a Pod copying a replica\'s pool label is refused to anyone but the controllers\' ServiceAccount, on create and by patch', async (t) => {
  const cluster = await testCluster();
  const admin = new RestClient(cluster.kubeConfig());
  t.teardown(() => admin.close());
  const ns = await useNamespace(t, 'replica-admission');
  const release = `ra${randomBytes(3).toString('hex')}`;
  const objects = await render({ release, namespace: SYSTEM_NS });
  const policy = one(objects, 'ValidatingAdmissionPolicy');
  const binding = one(objects, 'ValidatingAdmissionPolicyBinding');
  const controllers = serviceAccountUser(SYSTEM_NS, `${release}-chrysalis-operator`);
  t.true(JSON.stringify(policy).includes(controllers), 'the policy names the chart\'s controllers ServiceAccount');

  // Only this namespace: other tests on the shared apiserver create replica Pods as admin.
  (binding.spec as Record<string, unknown>).matchResources = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } };
  await admin.request('POST', `${ADMISSION}/validatingadmissionpolicies`, { body: policy });
  t.teardown(() => admin.request('DELETE', `${ADMISSION}/validatingadmissionpolicies/${policy.metadata.name}`).then(() => undefined, () => undefined));
  await admin.request('POST', `${ADMISSION}/validatingadmissionpolicybindings`, { body: binding });
  t.teardown(() => admin.request('DELETE', `${ADMISSION}/validatingadmissionpolicybindings/${binding.metadata.name}`).then(() => undefined, () => undefined));

  // An ordinary user and the controllers' ServiceAccount may both create and patch Pods here.
  const user = 'replica-forger';
  await admin.request('POST', `${RBAC}/namespaces/${ns}/roles`, { body: {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pods' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'patch', 'update'] }],
  } });
  await admin.request('POST', `${RBAC}/namespaces/${ns}/rolebindings`, { body: {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'pods' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pods' },
    subjects: [
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user },
      { kind: 'ServiceAccount', namespace: SYSTEM_NS, name: `${release}-chrysalis-operator` },
    ],
  } });
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-replica-admission-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const asUser = new RestClient(loadKubeConfig(impersonatingKubeconfig(cluster.kubeconfigPath, dir, user)));
  const asControllers = new RestClient(loadKubeConfig(impersonatingKubeconfig(cluster.kubeconfigPath, dir, controllers)));
  t.teardown(() => { asUser.close(); asControllers.close(); });
  const pods = `/api/v1/namespaces/${ns}/pods`;

  // Pods are admitted only once kube-controller-manager has made the namespace's default ServiceAccount.
  const saDeadline = Date.now() + 30_000;
  while (await refusal(admin.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`))) {
    if (Date.now() > saDeadline) t.fail(`no ServiceAccount ${ns}/default after 30 s`);
    await new Promise((r) => setTimeout(r, 250));
  }

  // The apiserver starts enforcing a new policy within a moment: retry until it refuses (or 30 s pass).
  let denied: KubeApiError | undefined;
  const deadline = Date.now() + 30_000;
  for (let i = 0; ; i++) {
    const name = `forged-${i}`;
    denied = await refusal(asUser.request('POST', pods, { body: pod(name, { [LABEL_POOL]: 'pool' }) }));
    if (denied || Date.now() > deadline) break;
    await admin.request('DELETE', `${pods}/${name}`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
  }
  t.truthy(denied, 'a Pod labelled as a replica, created by an ordinary user, is refused');
  t.is(denied?.code, 403);
  t.regex(denied?.message ?? '', new RegExp(`${policy.metadata.name}: only the Chrysalis controllers \\(${controllers}\\) may create replica Pods`));

  const owned = { ...pod('owned'), metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'pool', uid: '7d7c8e5a-1b7e-4f8e-9a51-3f0c2b9d6e11', controller: true }] } };
  const ownerCopied = await refusal(asUser.request('POST', pods, { body: owned }));
  t.is(ownerCopied?.code, 403, 'a Pod with a copied InferencePool owner reference, created by an ordinary user, is refused');

  t.is(await refusal(asControllers.request('POST', pods, { body: pod('replica', { [LABEL_POOL]: 'pool' }) })), undefined,
    'the controllers\' ServiceAccount creates a labelled Pod');
  t.is(await refusal(asUser.request('POST', pods, { body: pod('plain', { app: 'mine' }) })), undefined,
    'the user creates a Pod without the label');

  const patched = await refusal(asUser.request('PATCH', `${pods}/plain`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_POOL]: 'pool' } } } }));
  t.is(patched?.code, 403, 'the user cannot add the label to their Pod by patch');
  t.regex(patched?.message ?? '', /may create replica Pods/);
  t.is(await refusal(asUser.request('PATCH', `${pods}/plain`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { app: 'still-mine' } } } })), undefined,
    'the user still edits other labels of their Pod');

  // The routing label: the pools' Services send traffic to Pods that carry it.
  const routed = await refusal(asUser.request('POST', pods, { body: pod('routed', { [LABEL_REPLICA_ATTESTED]: 'true' }) }));
  t.is(routed?.code, 403, 'a Pod created with the routing label by an ordinary user is refused');
  t.regex(routed?.message ?? '', new RegExp(`only the Chrysalis controllers \\(${controllers}\\) may give a Pod the label ${LABEL_REPLICA_ATTESTED}`));
  const labelled = await refusal(asUser.request('PATCH', `${pods}/plain`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: 'true' } } } }));
  t.is(labelled?.code, 403, 'the user cannot add the routing label to a Pod by patch');
  t.is(await refusal(asControllers.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: 'true' } } } })), undefined,
    'the controllers\' ServiceAccount labels a replica');
  const changed = await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: 'yes' } } } }));
  t.is(changed?.code, 403, 'the user cannot change the routing label\'s value');
  t.is(await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: null } } } })), undefined,
    'removing the routing label passes: it only takes a Pod out of routing');
  const readded = await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: 'true' } } } }));
  t.is(readded?.code, 403, 'nor put it back');

  // The template hash: which spec of its pool a replica was built from (an outdated one is replaced).
  const templated = await refusal(asUser.request('POST', pods, { body: pod('templated', { [LABEL_TEMPLATE_HASH]: '0123456789abcdef' }) }));
  t.is(templated?.code, 403, 'a Pod created with the template hash by an ordinary user is refused');
  t.regex(templated?.message ?? '', new RegExp(`only the Chrysalis controllers \\(${controllers}\\) may give a Pod the label ${LABEL_TEMPLATE_HASH}`));
  t.is(await refusal(asControllers.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_TEMPLATE_HASH]: '0123456789abcdef' } } } })), undefined,
    'the controllers\' ServiceAccount sets it');
  const rehashed = await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_TEMPLATE_HASH]: 'fedcba9876543210' } } } }));
  t.is(rehashed?.code, 403, 'the user cannot change it, to pass an outdated replica off as current');
  t.is(await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_TEMPLATE_HASH]: null } } } })), undefined,
    'removing it passes: the replica is then replaced');
  const retemplated = await refusal(asUser.request('PATCH', `${pods}/replica`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { [LABEL_TEMPLATE_HASH]: '0123456789abcdef' } } } }));
  t.is(retemplated?.code, 403, 'nor put it back');
});
