// The chart's attester DaemonSet attests a real node: the node advertises a GPU (the label and the
// nvidia.com/gpu resource, as GPU feature discovery and the device plugin would) and carries the harness's
// simulated configfs-TSM where the chart mounts configfs-tsm; the attester Pod (privileged, as for
// hardware) reads an SEV-SNP report through it, its simulated GPU issues under the same root (the chart's
// attester.simulated.stateSecret), and the chart's attestation service, with the chart's CA and the
// chart's default AttestationPolicy (allowSimulated with the harness's root, set by values for this test
// only), makes the ProviderNode Attested. Nothing in that path holds an admin credential; the test
// creates the inputs an operator of the cluster would (the state Secret, the ProviderNode) and otherwise
// only observes. helm uninstall then leaves only the kept CRDs and the default policy.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { chartDir, helm, kubectl } from '../chart/helm.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { delay } from '../../dev/cluster/managed-process.js';
import { GPU_RESOURCE, startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { payoutAddress } from '../../dev/fleet/fleet.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { repoRoot } from '../images/podman-service.js';

const run = promisify(execFile);
const NS = 'chrysalis-system';
const STATE_SECRET = 'chrysalis-simulated-root';
const tee = SimulatedTee.create({ gpus: 1 });
let plane: ControlPlane;
let node: RealNode;
let work: string;

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'chrysalis-oci-'));
  await run('bash', [join(repoRoot, 'scripts', 'build-images.sh'), '--oci-dir', work], { maxBuffer: 64 * 1024 * 1024 })
    .catch((err: { stderr?: string }) => {
      throw new Error(`scripts/build-images.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`);
    });
  plane = await startControlPlane({ kwok: false });
  node = await startRealNode(plane, { gpus: 1, simulatedTee: tee });
  for (const component of ['operator', 'attester']) await node.importImage(join(work, `${component}.oci.tar`));
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await delay(1000);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

interface Condition { type: string; status: string; reason?: string; message?: string }

test('the chart\'s attester Pod attests the real node through the simulated configfs-TSM: ProviderNode Attested with the chart\'s CA and default policy', async (t) => {
  const kc = plane.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  const advertised = await core.readNode({ name: node.name });
  t.is(advertised.status?.allocatable?.[GPU_RESOURCE], '1', 'the node advertises its GPU as a device plugin would');
  t.is(advertised.metadata?.labels?.['nvidia.com/gpu.present'], 'true');

  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespacedSecret({ namespace: NS, body: {
    metadata: { name: STATE_SECRET }, stringData: { 'state.json': JSON.stringify(tee.exportRoot()) },
  } });
  const values = join(work, 'values.json');
  await writeFile(values, JSON.stringify({
    operator: { replicaCount: 1, image: { registry: 'localhost', pullPolicy: 'Never' } },
    attestation: { replicaCount: 1 },
    attester: {
      image: { registry: 'localhost', pullPolicy: 'Never' },
      tee: 'tsm', tsm: { hostPath: node.tsmPath },
      gpu: 'simulated', simulated: { gpus: 1, stateSecret: STATE_SECRET },
      logLevel: 'debug',
    },
    defaultPolicy: { allowSimulated: true, trustedRoots: [tee.rootPem] },
  }));
  const kubeconfig = ['--kubeconfig', plane.kubeconfigPath];
  const install = await helm(['install', 'chrysalis', chartDir, '-n', NS, ...kubeconfig, '-f', values]);
  t.is(install.code, 0, install.stderr);

  await custom.createClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: node.name },
    spec: { nodeName: node.name, tee: 'simulated', gpus: { model: 'H100', count: 1, ccMode: 'on' }, payoutAddress: payoutAddress('real-node'), priceCoefficient: 1000 },
  } });

  const apps = kc.makeApiClient(AppsV1Api);
  await until('the attester DaemonSet ready on the real node', async () => {
    const ds = await apps.readNamespacedDaemonSet({ name: 'chrysalis-attester', namespace: NS });
    return ds.status?.numberReady === 1 ? ds : undefined;
  });
  const attested = await until('ProviderNode Attested=True', async () => {
    const pn = await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', name: node.name }) as
      { status?: { conditions?: Condition[] } };
    const c = pn.status?.conditions?.find((x) => x.type === 'Attested');
    return c?.status === 'True' ? pn : undefined;
  }).catch(async (err: Error) => {
    const pods = (await core.listNamespacedPod({ namespace: NS })).items;
    const logs = await Promise.all(pods.map(async (p) =>
      `--- ${p.metadata!.name}\n${await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: NS, tailLines: 15 }).catch((e: Error) => e.message)}`));
    const pn = await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', name: node.name }).catch(() => ({}));
    throw new Error(`${err.message}\nProviderNode: ${JSON.stringify((pn as { status?: unknown }).status)}\n${logs.join('\n')}`);
  });
  t.truthy(attested);

  const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/component=attester' })).items;
  t.is(pods.length, 1);
  const pod = pods[0]!;
  t.is(pod.spec?.nodeName, node.name);
  t.is(pod.spec?.serviceAccountName, 'chrysalis-attester', 'the chart\'s attester ServiceAccount');
  t.false(pod.spec?.automountServiceAccountToken ?? true, 'no Kubernetes API token in the attester');
  t.true(pod.spec?.containers[0]?.args?.includes(`--tsm-root=${node.tsmPath}/report`));

  const pn = await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', name: node.name }) as
    { status?: Record<string, unknown> };
  t.regex(JSON.stringify(pn.status), /"simulated":true/, 'the status says the evidence was simulated');

  // helm uninstall removes every object of the release but the kept CRDs. The default policy is not the
  // release's: the operator created it (values.yaml), and it stays.
  const released = async () => {
    const r = await kubectl(['get', RELEASE_KINDS, '-A', '-l', 'app.kubernetes.io/instance=chrysalis', '-o', 'json', ...kubeconfig]);
    t.is(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { items: { kind: string; metadata: { name: string } }[] }).items.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  };
  const installed = await released();
  for (const kind of ['Deployment', 'DaemonSet', 'Service', 'ConfigMap', 'Secret', 'ServiceAccount', 'ClusterRole', 'ValidatingAdmissionPolicy', 'FlowSchema', 'CustomResourceDefinition']) {
    t.true(installed.some((o) => o.startsWith(`${kind}/`)), `the check sees the release's ${kind}s`);
  }
  const uninstall = await helm(['uninstall', 'chrysalis', '-n', NS, '--wait', ...kubeconfig]);
  t.is(uninstall.code, 0, uninstall.stderr);
  t.deepEqual(await released(), [
    'CustomResourceDefinition/attestationpolicies.chrysalis.dev', 'CustomResourceDefinition/inferencepools.chrysalis.dev',
    'CustomResourceDefinition/providernodes.chrysalis.dev', 'CustomResourceDefinition/settlementaccounts.chrysalis.dev',
  ]);
  const policy = await kubectl(['get', 'attestationpolicies.chrysalis.dev', 'default', '-o', 'jsonpath={.metadata.managedFields[0].manager}', ...kubeconfig]);
  t.is(policy.stdout, 'chrysalis-operator', `the default policy the operator created outlives the release: ${policy.stderr}`);
  await until('the release\'s Pods gone', async () => ((await core.listNamespacedPod({ namespace: NS })).items.length === 0 ? true : undefined), 120_000);
});

const RELEASE_KINDS = ['deployments', 'daemonsets', 'services', 'configmaps', 'secrets', 'serviceaccounts', 'roles', 'rolebindings', 'clusterroles',
  'clusterrolebindings', 'poddisruptionbudgets', 'validatingadmissionpolicies', 'validatingadmissionpolicybindings', 'customresourcedefinitions',
  'attestationpolicies', 'flowschemas'].join(',');
