// The cluster tests run against. `npm test` (test/run.ts) starts one local control plane for the whole
// ava run and passes its kubeconfig in CHRYSALIS_TEST_KUBECONFIG; set that variable yourself to run the
// tests against an existing cluster (kind, k3s, a real one) and nothing is started. A test file run on
// its own with neither gets a private control plane for its worker process.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { TEST_KUBECONFIG_ENV } from './env.js';

export interface TestCluster {
  kubeconfigPath: string;
  /** True when the cluster came from CHRYSALIS_TEST_KUBECONFIG rather than being started here. */
  external: boolean;
  kubeConfig(): KubeConfig;
}

export { TEST_KUBECONFIG_ENV };

let shared: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  shared ??= connect();
  return shared;
}

async function connect(): Promise<TestCluster> {
  const path = process.env[TEST_KUBECONFIG_ENV];
  if (path) {
    return { kubeconfigPath: path, external: true, kubeConfig: () => loadKubeConfig(path) };
  }
  const plane: ControlPlane = await startControlPlane();
  test.after.always('stop the private control plane', () => plane.stop());
  return { kubeconfigPath: plane.kubeconfigPath, external: false, kubeConfig: () => plane.kubeConfig() };
}

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/**
 * A namespace of the test's own, deleted when the test ends. Names are `<prefix>-<random>` so parallel
 * tests and reruns never collide.
 */
export async function useNamespace(t: ExecutionContext, prefix = 't'): Promise<string> {
  const cluster = await testCluster();
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const slug = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40).replace(/-+$/, '');
  const name = `${slug}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'chrysalis.dev/test': 'true' } } } });
  t.teardown(async () => {
    await core.deleteNamespace({ name }).catch(() => undefined);
  });
  return name;
}
