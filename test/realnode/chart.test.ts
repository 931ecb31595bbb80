// The chart installed for real: `helm install` of charts/chrysalis onto a plane whose one node is real,
// with the images built here. The operator (2 replicas, leader election) and the attestation service
// (2 replicas) run as Pods on the node under the chart's ServiceAccounts and RBAC — nothing in them holds an
// admin credential — become Ready, one operator leads, and `helm uninstall` takes their Pods away.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { chartDir, helm } from '../chart/helm.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { delay } from '../../dev/cluster/managed-process.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { repoRoot } from '../images/podman-service.js';

const run = promisify(execFile);
const NS = 'chrysalis-system';
let plane: ControlPlane;
let node: RealNode;
let archives: string;

test.before(async () => {
  archives = await mkdtemp(join(tmpdir(), 'chrysalis-oci-'));
  await run('bash', [join(repoRoot, 'scripts', 'build-images.sh'), '--oci-dir', archives], { maxBuffer: 64 * 1024 * 1024 })
    .catch((err: { stderr?: string }) => {
      throw new Error(`scripts/build-images.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`);
    });
  plane = await startControlPlane({ kwok: false });
  node = await startRealNode(plane);
  for (const component of ['operator', 'attester']) await node.importImage(join(archives, `${component}.oci.tar`));
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
  if (archives) await rm(archives, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
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

test('helm install runs the operator and the attestation service as Ready Pods on the real node under the chart\'s ServiceAccounts', async (t) => {
  const kubeconfig = ['--kubeconfig', plane.kubeconfigPath];
  const install = await helm(['install', 'chrysalis', chartDir, '-n', NS, '--create-namespace', ...kubeconfig,
    '-f', join(chartDir, 'ci/simulated-values.yaml'),
    '--set', 'operator.image.registry=localhost', '--set', 'operator.image.pullPolicy=Never',
    '--set', 'attester.image.registry=localhost', '--set', 'attester.image.pullPolicy=Never']);
  t.is(install.code, 0, install.stderr);

  const kc = plane.kubeConfig();
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  for (const deployment of ['chrysalis-operator', 'chrysalis-attestation']) {
    await until(`${deployment} 2/2 ready`, async () => {
      const d = await apps.readNamespacedDeployment({ name: deployment, namespace: NS });
      return d.status?.readyReplicas === 2 ? d : undefined;
    });
  }
  const pods = (await core.listNamespacedPod({ namespace: NS })).items;
  t.is(pods.length, 4, pods.map((p) => p.metadata?.name).join(', '));
  const operators = pods.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === 'operator');
  t.is(operators.length, 2);
  for (const pod of pods) {
    t.is(pod.spec?.nodeName, node.name, `${pod.metadata?.name} runs on the real node`);
    t.regex(pod.status?.podIP ?? '', /^10\.244\.0\.\d+$/);
    t.true(pod.spec?.serviceAccountName?.startsWith('chrysalis-'), `${pod.metadata?.name} runs as the chart's ServiceAccount`);
    t.not(pod.spec?.serviceAccountName, 'default');
  }
  const lease = await until('an operator leads', async () => {
    const l = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'chrysalis-operator', namespace: NS });
    return l.spec?.holderIdentity ? l : undefined;
  });
  t.true(operators.some((p) => lease.spec!.holderIdentity!.startsWith(`${p.metadata!.name}_`)), `leader ${lease.spec?.holderIdentity}`);

  const uninstall = await helm(['uninstall', 'chrysalis', '-n', NS, '--wait', ...kubeconfig]);
  t.is(uninstall.code, 0, uninstall.stderr);
  await until('the chart\'s Pods gone', async () => ((await core.listNamespacedPod({ namespace: NS })).items.length === 0 ? true : undefined));
  t.pass();
});
