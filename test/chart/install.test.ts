// helm install / upgrade / uninstall against a real kube-apiserver. It runs on a private control plane
// (etcd, kube-apiserver, kube-controller-manager; no scheduler, no kwok) because the shared test cluster
// has other tests' copies of the same CRDs, which a release cannot adopt. No kubelet runs pods there, so
// `--wait` could never succeed: instead every object of the release manifest is read back from the
// apiserver, which proves it was accepted (schema, admission, RBAC escalation checks).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { chartDir, ciValuesFiles, helm, kubectl, parseManifests, repoRoot, type K8sObject } from './helm.js';

let cp: ControlPlane | undefined;
const work = mkdtempSync(join(tmpdir(), 'chrysalis-chart-'));
const suffix = randomBytes(3).toString('hex');

test.before(async () => {
  cp = await startControlPlane({ scheduler: false, kwok: false });
});
test.after.always(async () => {
  await cp?.stop();
  rmSync(work, { recursive: true, force: true });
});

const kc = () => ['--kubeconfig', cp!.kubeconfigPath];
const h = (args: string[]) => helm([...args, ...kc()]);
const k = (args: string[]) => kubectl([...args, ...kc()]);

async function manifestObjects(release: string, namespace: string): Promise<{ objects: K8sObject[]; file: string }> {
  const r = await h(['get', 'manifest', release, '-n', namespace]);
  if (r.code !== 0) throw new Error(`helm get manifest: ${r.stderr}`);
  const file = join(work, `${release}.yaml`);
  writeFileSync(file, r.stdout);
  return { objects: parseManifests(r.stdout), file };
}

/** Every object of the manifest, as the apiserver returns it (uid per kind/namespace/name). */
async function liveObjects(file: string, namespace: string): Promise<Map<string, K8sObject>> {
  const r = await k(['get', '-f', file, '-n', namespace, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get -f: ${r.stderr}`);
  const list = JSON.parse(r.stdout) as { items?: K8sObject[]; kind: string } & K8sObject;
  const items = list.kind === 'List' ? list.items ?? [] : [list];
  return new Map(items.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
}

const keyOf = (o: K8sObject, namespace: string, clusterScoped: Set<string>) => `${o.kind}/${clusterScoped.has(o.kind) ? '' : o.metadata.namespace ?? namespace}/${o.metadata.name}`;
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'FlowSchema']);
const uid = (o: K8sObject | undefined) => (o?.metadata as { uid?: string } | undefined)?.uid;

test.serial('helm install, upgrade and uninstall keep the CRDs and the custom resources, and every object is accepted', async (t) => {
  const namespace = `chrysalis-${suffix}`;
  const release = `chry-${suffix}`;

  // install
  const install = await h(['install', release, chartDir, '-n', namespace, '--create-namespace']);
  t.is(install.code, 0, install.stderr);
  t.regex(install.stdout, /Next steps:/, 'NOTES.txt is printed');
  const { objects, file } = await manifestObjects(release, namespace);
  const live = await liveObjects(file, namespace);
  t.true(objects.length >= 15, `${objects.length} objects`);
  for (const o of objects) t.true(live.has(keyOf(o, namespace, CLUSTER_SCOPED)), `${o.kind} ${o.metadata.name} exists in the apiserver`);
  const crdNames = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort();
  t.is(crdNames.length, 4);
  const established = await k(['wait', '--for=condition=Established', '--timeout=60s', ...crdNames.map((n) => `crd/${n}`)]);
  t.is(established.code, 0, established.stderr);

  // custom resources: the samples, one cluster-scoped and one namespaced
  for (const sample of ['attestationpolicy.yaml', 'inferencepool.yaml']) {
    const applied = await k(['apply', '-n', namespace, '-f', join(repoRoot, 'crds/samples', sample)]);
    t.is(applied.code, 0, `${sample}: ${applied.stderr}`);
  }
  const crdUids = new Map(crdNames.map((n) => [n, uid(live.get(`CustomResourceDefinition//${n}`))]));
  const tlsBefore = live.get(`Secret/${namespace}/${release}-chrysalis-attestation-tls`);
  t.truthy(tlsBefore);

  // upgrade: a changed value rolls forward; CRDs are the same objects; the CRs survive; the generated
  // certificate is kept (the attesters keep trusting the same CA)
  const upgrade = await h(['upgrade', release, chartDir, '-n', namespace, '--set', 'operator.logLevel=debug']);
  t.is(upgrade.code, 0, upgrade.stderr);
  const after = await liveObjects((await manifestObjects(release, namespace)).file, namespace);
  for (const n of crdNames) t.is(uid(after.get(`CustomResourceDefinition//${n}`)), crdUids.get(n), `${n} kept across the upgrade`);
  const tlsAfter = after.get(`Secret/${namespace}/${release}-chrysalis-attestation-tls`) as { data?: Record<string, string> } | undefined;
  t.is(tlsAfter?.data?.['ca.crt'], (tlsBefore as { data?: Record<string, string> }).data?.['ca.crt'], 'the generated CA survives the upgrade');
  const policy = await k(['get', 'attestationpolicies.chrysalis.dev', 'default', '-o', 'name']);
  t.is(policy.code, 0, policy.stderr);
  const pool = await k(['get', 'inferencepools.chrysalis.dev', '-n', namespace, '-o', 'name']);
  t.regex(pool.stdout, /inferencepool/);
  const deploy = await k(['get', 'deployment', `${release}-chrysalis-operator`, '-n', namespace, '-o', 'json']);
  t.regex(deploy.stdout, /"value": "debug"/, 'the upgrade applied the new value');

  // uninstall: the release's objects go, the CRDs (helm.sh/resource-policy: keep) and the CRs stay
  const uninstall = await h(['uninstall', release, '-n', namespace]);
  t.is(uninstall.code, 0, uninstall.stderr);
  for (const n of crdNames) {
    const crd = await k(['get', 'crd', n, '-o', 'json']);
    t.is(crd.code, 0, `${n} kept after uninstall`);
    t.is(uid(JSON.parse(crd.stdout) as K8sObject), crdUids.get(n));
  }
  t.is((await k(['get', 'attestationpolicies.chrysalis.dev', 'default', '-o', 'name'])).code, 0, 'the AttestationPolicy survives');
  t.regex((await k(['get', 'inferencepools.chrysalis.dev', '-n', namespace, '-o', 'name'])).stdout, /inferencepool/, 'the InferencePool survives');
  const gone = await k(['get', 'deployment', `${release}-chrysalis-operator`, '-n', namespace]);
  t.not(gone.code, 0, 'the operator Deployment is removed');
  const role = await k(['get', 'clusterrole', `${release}-chrysalis-operator`]);
  t.not(role.code, 0, 'the ClusterRole is removed');
});

/** The chart's Pods of a component once there are `count` of them, or those there are at a 3-minute deadline. */
async function podsOf(namespace: string, component: string, count: number): Promise<K8sObject[]> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const r = await k(['get', 'pods', '-n', namespace, '-l', `app.kubernetes.io/component=${component}`, '-o', 'json']);
    const pods = (JSON.parse(r.stdout || '{"items":[]}') as { items: K8sObject[] }).items;
    if (pods.length >= count || Date.now() > deadline) return pods;
    await new Promise((res) => setTimeout(res, 500));
  }
}

test.serial('the simulated scenario installs into a namespace that enforces the restricted Pod Security Standard', async (t) => {
  const namespace = `chrysalis-restricted-${suffix}`;
  const release = `sim-${suffix}`;
  t.is((await k(['create', 'namespace', namespace])).code, 0);
  const labelled = await k(['label', 'namespace', namespace, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
  t.is(labelled.code, 0, labelled.stderr);
  const simulated = ciValuesFiles.find((f) => f.endsWith('simulated-values.yaml'))!;
  // The CRDs kept from the previous test belong to that (uninstalled) release; this one installs none.
  const install = await h(['install', release, chartDir, '-n', namespace, '-f', simulated, '--set', 'crds.enabled=false']);
  t.is(install.code, 0, install.stderr);
  t.notRegex(install.stderr, /violate PodSecurity/, 'no PodSecurity warning for any workload');
  const { objects, file } = await manifestObjects(release, namespace);
  const live = await liveObjects(file, namespace);
  for (const o of objects) t.true(live.has(keyOf(o, namespace, CLUSTER_SCOPED)), `${o.kind} ${o.metadata.name} exists in the apiserver`);
  // kube-controller-manager creates the operator's Pods; PodSecurity admission (enforce=restricted) lets them in.
  // Waited for by a deadline generous for a loaded machine, not a fixed number of polls.
  const pods = await podsOf(namespace, 'operator', 2);
  const events = await k(['get', 'events', '-n', namespace, '-o', 'json']);
  t.is(pods.length, 2, `operator pods admitted under enforce=restricted; events: ${events.stdout.slice(0, 2000)}`);
  const servicePods = await podsOf(namespace, 'attestation-service', 2);
  t.is(servicePods.length, 2, 'attestation service pods admitted under enforce=restricted');
  const uninstall = await h(['uninstall', release, '-n', namespace]);
  t.is(uninstall.code, 0, uninstall.stderr);
});

test('helm template of the defaults and kubectl apply --dry-run=server agree on every object', async (t) => {
  // A server-side dry run validates each rendered object (CRD schemas, Pod templates, RBAC) without
  // keeping anything, here against the same private control plane.
  const namespace = `chrysalis-dry-${suffix}`;
  t.is((await k(['create', 'namespace', namespace])).code, 0);
  const rendered = await helm(['template', `dry-${suffix}`, chartDir, '-n', namespace, '--set', 'crds.enabled=false']);
  t.is(rendered.code, 0, rendered.stderr);
  const file = join(work, 'dry.yaml');
  writeFileSync(file, rendered.stdout);
  const dry = await k(['apply', '--dry-run=server', '-n', namespace, '-f', file]);
  t.is(dry.code, 0, dry.stderr);
  const count = parseManifests(readFileSync(file, 'utf8')).length;
  t.is(dry.stdout.trim().split('\n').length, count, dry.stdout);
});
