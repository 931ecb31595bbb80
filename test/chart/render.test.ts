// Render tests: the defaults and every ci/*-values.yaml scenario render to objects with the properties the
// chart promises (restricted operator pods, 2 replicas with a PDB and spread, probes, labels, least
// privilege), and the switches (crds.enabled/keep, overrides, TLS modes, monitoring) do what they say.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { operatorProgram } from '../../operator/src/main.js';
import { chartDir, ciValuesFiles, find, one, render, scenarioName, type K8sObject } from './helm.js';

interface Container {
  name: string;
  image: string;
  args?: string[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
  env?: { name: string; value?: string }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
  volumes?: { name: string; hostPath?: { path: string }; projected?: { sources: Record<string, unknown>[] }; secret?: { secretName: string; items?: { key: string }[] } }[];
  imagePullSecrets?: { name: string }[];
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; effect: string }[];
}
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec; metadata: { labels: Record<string, string>; annotations?: Record<string, string> } } }).template.spec;
const podMeta = (o: K8sObject) => (o.spec as { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } } }).template.metadata;
const operatorOf = (objects: K8sObject[]) => one(objects, 'Deployment', (o) => o.metadata.name.endsWith('-operator'));
const attestationOf = (objects: K8sObject[]) => one(objects, 'Deployment', (o) => o.metadata.name.endsWith('-attestation'));
const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { operator: { image: { registry: string; repository: string } } };

function assertRestricted(t: import('ava').ExecutionContext, spec: PodSpec, what: string): void {
  const podSc = spec.securityContext ?? {};
  t.is(podSc.runAsNonRoot, true, `${what}: pod runAsNonRoot`);
  for (const c of spec.containers) {
    const sc = c.securityContext ?? {};
    t.is(sc.runAsNonRoot, true, `${what}/${c.name}: runAsNonRoot`);
    t.is(sc.readOnlyRootFilesystem, true, `${what}/${c.name}: readOnlyRootFilesystem`);
    t.is(sc.allowPrivilegeEscalation, false, `${what}/${c.name}: allowPrivilegeEscalation`);
    t.deepEqual((sc.capabilities as { drop?: string[] } | undefined)?.drop, ['ALL'], `${what}/${c.name}: drop ALL`);
    t.falsy(sc.privileged, `${what}/${c.name}: not privileged`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile) as { type?: string } | undefined;
    t.is(seccomp?.type, 'RuntimeDefault', `${what}/${c.name}: seccomp RuntimeDefault`);
    const uid = (sc.runAsUser ?? podSc.runAsUser) as number | undefined;
    t.true(uid === undefined || uid > 0, `${what}/${c.name}: UID ${uid}`);
  }
}

for (const file of [undefined, ...ciValuesFiles]) {
  const name = scenarioName(file);
  const valuesFiles = file ? [file] : [];

  test(`every object rendered from ${name} has a kind, a name and the chart's labels`, async (t) => {
    const objects = await render({ valuesFiles });
    t.true(objects.length > 5);
    for (const o of objects) {
      t.truthy(o.apiVersion, `${o.kind}/${o.metadata?.name}`);
      t.truthy(o.metadata.name, o.kind);
      t.true(o.metadata.name.length <= 63 || o.kind === 'CustomResourceDefinition', `${o.kind}/${o.metadata.name} name too long`);
      const labels = o.metadata.labels ?? {};
      t.is(labels['app.kubernetes.io/managed-by'], 'Helm', `${o.kind}/${o.metadata.name}`);
      t.is(labels['app.kubernetes.io/instance'], 'chry', `${o.kind}/${o.metadata.name}`);
      t.truthy(labels['helm.sh/chart'], `${o.kind}/${o.metadata.name}`);
    }
    const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    t.is(new Set(keys).size, keys.length, 'no object is rendered twice');
  });

  test(`the operator and attestation service pods rendered from ${name} run under the restricted profile with probes and resources`, async (t) => {
    const objects = await render({ valuesFiles });
    const known = new Set(operatorProgram().options.map((o) => o.long));
    for (const [what, deploy] of [['operator', operatorOf(objects)], ['attestation service', attestationOf(objects)]] as const) {
      const spec = podSpec(deploy);
      assertRestricted(t, spec, what);
      const c = spec.containers[0]!;
      t.is(c.livenessProbe?.httpGet?.path, '/healthz', what);
      t.is(c.readinessProbe?.httpGet?.path, '/readyz', what);
      t.truthy(c.resources?.requests?.cpu, what);
      t.truthy(c.resources?.requests?.memory, what);
      t.truthy(c.resources?.limits?.memory, what);
      t.true(c.args?.includes('--config=/etc/chrysalis/config.yaml'), what);
      t.true(c.args?.some((a) => /^--metrics-port=\d+$/.test(a)), what);
      // Every flag the chart passes is one the operator binary knows.
      for (const arg of c.args ?? []) t.true(known.has(arg.split('=')[0]), `${what}: the operator has no flag ${arg}`);
      t.truthy(podMeta(deploy).annotations?.['checksum/config'], `${what}: config changes roll the pods`);
    }
    // The controllers: no listener for attesters and no TLS key; sandbox settlement state goes to a
    // mounted volume (the root filesystem is read-only).
    const controllers = podSpec(operatorOf(objects)).containers[0]!;
    t.true(controllers.args?.includes('--components=controllers'));
    t.false(controllers.args?.some((a) => a.startsWith('--attestation-port') || a.startsWith('--tls-')));
    t.false(controllers.volumeMounts?.some((m) => m.mountPath === '/etc/chrysalis/tls'), 'the controllers never see the service key');
    t.true(controllers.args?.includes('--sandbox-dir=/var/lib/chrysalis/sandbox'));
    t.true(controllers.volumeMounts?.some((m) => m.mountPath === '/var/lib/chrysalis/sandbox'));
    // The attestation service serves the certificate the chart manages (not a self-signed one attesters
    // would refuse) and keeps no settlement state.
    const service = podSpec(attestationOf(objects)).containers[0]!;
    t.true(service.args?.includes('--components=attestation-service'));
    t.true(service.args?.some((a) => /^--attestation-port=\d+$/.test(a)));
    t.true(service.volumeMounts?.some((m) => m.mountPath === '/etc/chrysalis/tls'));
    t.true(service.args?.includes('--tls-cert=/etc/chrysalis/tls/tls.crt') && service.args.includes('--tls-key=/etc/chrysalis/tls/tls.key'));
    t.false(service.volumeMounts?.some((m) => m.mountPath === '/var/lib/chrysalis/sandbox'));
    const cm = one(objects, 'ConfigMap', (o) => o.metadata.name === operatorOf(objects).metadata.name);
    t.notThrows(() => parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config'), 'the operator accepts the rendered config');
  });

  test(`no RBAC rule rendered from ${name} uses a wildcard, and only the settlement Role touches Secrets`, async (t) => {
    const objects = await render({ valuesFiles });
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    t.true(roles.length > 0);
    for (const r of roles) {
      for (const rule of (r.rules as { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }[]) ?? []) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames]) t.false((field ?? []).includes('*'), `${r.kind}/${r.metadata.name}: ${JSON.stringify(rule)}`);
        if ((rule.resources ?? []).some((res) => res === 'secrets' || res.startsWith('secrets/'))) {
          t.is(r.kind, 'Role', 'Secret access is namespaced');
          t.true(r.metadata.name.endsWith('-settlement'), `Secrets only in the settlement Role, found in ${r.metadata.name}`);
          t.false(rule.verbs.some((v) => v === 'list' || v === 'watch'), 'no list or watch of Secrets');
        }
      }
    }
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
    for (const b of bindings) t.is((b.roleRef as { name: string }).name, b.metadata.name, `${b.kind} ${b.metadata.name} binds its own role`);
  });

  test(`the attester rendered from ${name} has no API token and runs restricted unless it needs the hardware`, async (t) => {
    const objects = await render({ valuesFiles });
    const ds = find(objects, 'DaemonSet');
    if (ds.length === 0) return t.pass('attester disabled in this scenario');
    const spec = podSpec(ds[0]!);
    t.is(spec.automountServiceAccountToken, false);
    const projected = spec.volumes?.find((v) => v.projected)?.projected?.sources ?? [];
    const token = projected.find((s) => 'serviceAccountToken' in s)?.serviceAccountToken as { audience: string } | undefined;
    t.is(token?.audience, 'chrysalis-attestation');
    const caOnly = projected.find((s) => 'secret' in s)?.secret as { items: { key: string }[] } | undefined;
    t.deepEqual(caOnly?.items.map((i) => i.key), ['ca.crt'], 'the attester sees the CA, never the service key');
    t.true(spec.tolerations?.some((tol) => tol.key === 'chrysalis.dev/unattested' && tol.effect === 'NoSchedule'));
    t.true(spec.containers[0]!.env?.some((e) => e.name === 'NODE_NAME'));
    const args = spec.containers[0]!.args ?? [];
    const hardware = args.includes('--tee=tsm') || args.includes('--gpu=nvml');
    if (hardware) {
      t.is(spec.containers[0]!.securityContext?.privileged, true);
      t.is(spec.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
      if (args.includes('--tee=tsm')) t.true(spec.volumes?.some((v) => v.hostPath?.path === '/sys/kernel/config/tsm'));
    } else {
      assertRestricted(t, spec, 'attester');
      t.false(spec.volumes?.some((v) => v.hostPath) ?? false, 'no host access');
    }
  });
}

test('the defaults run 2 leader-elected operator replicas with a PodDisruptionBudget and spread them across nodes', async (t) => {
  const objects = await render();
  const deploy = operatorOf(objects);
  t.is((deploy.spec as { replicas: number }).replicas, 2);
  const args = podSpec(deploy).containers[0]!.args ?? [];
  t.true(args.includes('--leader-elect'));
  t.true(args.includes('--lease-namespace=chrysalis-system'));
  const pdb = one(objects, 'PodDisruptionBudget', (o) => o.metadata.name === deploy.metadata.name);
  t.is((pdb.spec as { minAvailable: number }).minAvailable, 1);
  const selector = (deploy.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
  t.deepEqual((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, selector);
  const spread = podSpec(deploy).topologySpreadConstraints ?? [];
  t.true(spread.some((s) => s.topologyKey === 'kubernetes.io/hostname'));
  for (const s of spread) t.deepEqual(s.labelSelector.matchLabels, selector);
  const lease = one(objects, 'Role', (o) => o.metadata.name === `${deploy.metadata.name}-leader-election`);
  t.is(lease.metadata.namespace, 'chrysalis-system');
});

test('the defaults run 2 attestation service replicas that all serve (no Lease), with a PodDisruptionBudget', async (t) => {
  const objects = await render();
  const deploy = attestationOf(objects);
  t.is((deploy.spec as { replicas: number }).replicas, 2);
  const args = podSpec(deploy).containers[0]!.args ?? [];
  t.false(args.some((a) => a.startsWith('--leader-elect') || a.startsWith('--lease-namespace')));
  const selector = (deploy.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
  const pdb = one(objects, 'PodDisruptionBudget', (o) => o.metadata.name === deploy.metadata.name);
  t.deepEqual((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, selector);
  const service = one(objects, 'Service', (o) => o.metadata.name === deploy.metadata.name);
  t.deepEqual((service.spec as { selector: Record<string, string> }).selector, selector, 'the attestation Service sends attesters to these Pods');
  t.is(find(objects, 'Role', (o) => o.metadata.name === `${deploy.metadata.name}-leader-election`).length, 0);
});

test('the default image is the operator image the Dockerfile builds, tagged with the appVersion', async (t) => {
  const deploy = operatorOf(await render());
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  t.is(podSpec(deploy).containers[0]!.image, `${values.operator.image.registry}/${values.operator.image.repository}:${chart.appVersion}`);
});

test('a single replica gets no PodDisruptionBudget (it could never be satisfied during a drain)', async (t) => {
  const objects = await render({ set: ['operator.replicaCount=1', 'attestation.replicaCount=1'] });
  t.is(find(objects, 'PodDisruptionBudget').length, 0);
});

test('the CRDs are rendered with helm.sh/resource-policy keep by default', async (t) => {
  const crds = find(await render(), 'CustomResourceDefinition');
  t.deepEqual(crds.map((c) => c.metadata.name).sort(), ['attestationpolicies.chrysalis.dev', 'inferencepools.chrysalis.dev', 'providernodes.chrysalis.dev', 'settlementaccounts.chrysalis.dev']);
  for (const c of crds) t.is(c.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
});

test('crds.keep=false drops the keep policy and crds.enabled=false drops the CRDs', async (t) => {
  for (const c of find(await render({ set: ['crds.keep=false'] }), 'CustomResourceDefinition')) t.is(c.metadata.annotations?.['helm.sh/resource-policy'], undefined);
  t.is(find(await render({ set: ['crds.enabled=false'] }), 'CustomResourceDefinition').length, 0);
});

test('nameOverride and fullnameOverride name the objects', async (t) => {
  const named = await render({ set: ['nameOverride=chry2'] });
  t.is(operatorOf(named).metadata.labels?.['app.kubernetes.io/name'], 'chry2');
  const full = await render({ set: ['fullnameOverride=edge'] });
  t.is(operatorOf(full).metadata.name, 'edge-operator');
  t.truthy(one(full, 'Service', (o) => o.metadata.name === 'edge-attestation'));
});

test('the production scenario pins images by digest, pulls with its secrets and narrows Secret access to the wallet', async (t) => {
  const objects = await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('production-values.yaml')) });
  const spec = podSpec(operatorOf(objects));
  t.regex(spec.containers[0]!.image, /^registry\.example\.com\/mirror\/chrysalis-operator:0\.1\.0@sha256:[0-9a-f]{64}$/);
  t.deepEqual(spec.imagePullSecrets, [{ name: 'registry-credentials' }]);
  t.is(spec.priorityClassName, 'system-cluster-critical');
  t.is(podSpec(one(objects, 'DaemonSet')).priorityClassName, 'system-node-critical');
  const settlement = one(objects, 'Role', (o) => o.metadata.name.endsWith('-settlement'));
  t.is(settlement.metadata.namespace, 'settlement');
  const secretReads = (settlement.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[]).find((r) => r.resources.includes('secrets') && r.verbs.includes('get'));
  t.deepEqual(secretReads?.resourceNames, ['ton-wallet']);
  for (const lease of find(objects, 'Role', (o) => o.metadata.name.endsWith('-leader-election'))) t.is(lease.metadata.namespace, 'chrysalis-system');
  t.is(find(objects, 'Secret').length, 0, 'mode "secret" uses the existing Secret');
  t.is((one(objects, 'PodDisruptionBudget', (o) => o.metadata.name === operatorOf(objects).metadata.name).spec as { maxUnavailable?: number }).maxUnavailable, 1);
  t.is(operatorOf(objects).metadata.labels?.team, 'inference-platform');
});

test('the monitoring scenario renders a ServiceMonitor on the metrics Service, the dashboard and a cert-manager Certificate', async (t) => {
  const objects = await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('monitoring-values.yaml')) });
  const sm = one(objects, 'ServiceMonitor');
  // The Services it selects are the two metrics Services, the controllers' and the attestation service's
  // (the service's deferred usage reports and its apiserver requests are only in its own /metrics).
  const wanted = (sm.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
  const selected = objects.filter((o) => o.kind === 'Service' && Object.entries(wanted).every(([k, v]) => o.metadata.labels?.[k] === v));
  const selects = (s: (typeof objects)[number]) => (s.spec as { selector: Record<string, string> }).selector['app.kubernetes.io/component'];
  t.deepEqual(selected.map(selects).sort(), ['attestation-service', 'operator']);
  for (const service of selected) {
    t.true(((service.spec as { ports: { name: string }[] }).ports).some((p) => p.name === 'metrics'), `${service.metadata.name} serves the metrics port`);
  }
  // Each selects the Pods of a Deployment that has a container port named metrics.
  for (const component of ['operator', 'attestation-service']) {
    const deployment = one(objects, 'Deployment', (o) => (o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels['app.kubernetes.io/component'] === component);
    const ports = (deployment.spec as { template: { spec: { containers: { ports?: { name: string }[] }[] } } }).template.spec.containers.flatMap((c) => c.ports ?? []);
    t.true(ports.some((p) => p.name === 'metrics'), `the ${component} Deployment names a metrics port`);
  }
  t.is(sm.metadata.labels?.release, 'kube-prometheus-stack');
  const dashboard = one(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-dashboard'));
  t.is(dashboard.metadata.labels?.grafana_dashboard, '1');
  const json = JSON.parse((dashboard.data as Record<string, string>)['chrysalis.json']!) as { panels: { targets: { expr: string }[] }[] };
  t.true(json.panels.length > 0);
  t.true(json.panels.every((p) => p.targets.every((q) => q.expr.length > 0)));
  const cert = one(objects, 'Certificate');
  t.deepEqual((cert.spec as { issuerRef: unknown }).issuerRef, { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  t.is((cert.spec as { secretName: string }).secretName, 'chry-chrysalis-attestation-tls');
});

test('the generated TLS certificate is signed by the bundled CA and names the attestation Service', async (t) => {
  const objects = await render({ namespace: 'chrysalis-system' });
  const secret = one(objects, 'Secret', (o) => o.metadata.name.endsWith('-attestation-tls'));
  const data = secret.data as Record<string, string>;
  const cert = new X509Certificate(Buffer.from(data['tls.crt']!, 'base64'));
  const ca = new X509Certificate(Buffer.from(data['ca.crt']!, 'base64'));
  t.true(cert.verify(ca.publicKey));
  t.true(cert.checkHost('chry-chrysalis-attestation.chrysalis-system.svc') !== undefined);
  t.true(cert.checkHost('chry-chrysalis-attestation.chrysalis-system.svc.cluster.local') !== undefined);
  const service = one(objects, 'Service', (o) => o.metadata.name === 'chry-chrysalis-attestation');
  t.is((service.spec as { ports: { port: number }[] }).ports[0]!.port, 8443);
  const args = podSpec(one(objects, 'DaemonSet')).containers[0]!.args ?? [];
  t.true(args.includes('--service=https://chry-chrysalis-attestation.chrysalis-system.svc:8443'));
});

test('the operator configuration carries the runtime classes, GPU resource, scheduler, policy, attester image and service URL', async (t) => {
  const cm = one(await render(), 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.deepEqual(config.runtimeClassByTee, { 'sev-snp': 'kata-qemu-snp', tdx: 'kata-qemu-tdx' });
  t.is(config.gpuResourceName, 'nvidia.com/gpu');
  t.is(config.schedulerName, 'chrysalis');
  t.is(config.defaultPolicyName, 'default');
  t.is(config.attesterImage, 'ghcr.io/chrysalis-dev/chrysalis-attester:0.1.0');
  t.is(config.attestationServiceUrl, 'https://chry-chrysalis-attestation.chrysalis-system.svc:8443');
});

test('with leader election off the operator gets neither --leader-elect nor a lease Role', async (t) => {
  const objects = await render({ set: ['operator.leaderElection.enabled=false'] });
  const args = podSpec(operatorOf(objects)).containers[0]!.args ?? [];
  t.false(args.some((a) => a.startsWith('--leader-elect') || a.startsWith('--lease-namespace')));
  t.is(find(objects, 'Role', (o) => o.metadata.name.endsWith('-leader-election')).length, 0);
});

test('sandbox settlement state lives in an emptyDir by default and in the named claim when settlement.sandbox.existingClaim is set', async (t) => {
  const sandboxVolume = async (set: string[]) => {
    const spec = podSpec(operatorOf(await render({ set })));
    return (spec.volumes as Array<Record<string, unknown>> | undefined)?.find((v) => v.name === 'sandbox');
  };
  t.like(await sandboxVolume([]), { emptyDir: { sizeLimit: '1Gi' } });
  t.deepEqual((await sandboxVolume(['settlement.sandbox.existingClaim=chrysalis-sandbox']))?.persistentVolumeClaim, { claimName: 'chrysalis-sandbox' });
});

test('each component gets its own client rate limit from kubeApi, checked by the schema', async (t) => {
  const argsOf = (deploy: K8sObject) => podSpec(deploy).containers[0]!.args ?? [];
  const defaults = await render();
  for (const deploy of [operatorOf(defaults), attestationOf(defaults)]) {
    t.true(argsOf(deploy).includes('--qps=50') && argsOf(deploy).includes('--burst=100'), deploy.metadata.name);
  }
  // A fleet past what one service replica folds at the default raises the service's alone.
  const raised = await render({ set: ['attestation.kubeApi.qps=200', 'attestation.kubeApi.burst=400'] });
  t.true(argsOf(attestationOf(raised)).includes('--qps=200') && argsOf(attestationOf(raised)).includes('--burst=400'));
  t.true(argsOf(operatorOf(raised)).includes('--qps=50'));
  await t.throwsAsync(render({ set: ['operator.kubeApi.burst=0'] }), { message: /kubeApi[\s\S]*burst/ });
  await t.throwsAsync(render({ set: ['attestation.kubeApi.qps=fast'] }), { message: /kubeApi[\s\S]*qps/ });
});
