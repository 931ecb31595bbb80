// The operator image, built here, started by testcontainers with only a kubeconfig, reaches the local
// apiserver: its /readyz turns 200 only once every informer cache has listed and is watching there, which
// needs the apiserver reachable, the client certificate accepted and the CRDs served.
import test from 'ava';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { installCrds } from '../../dev/install-crds.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { delay } from '../../dev/cluster/managed-process.js';
import { freePort } from '../../dev/cluster/ports.js';
import { localImages, startPodmanService, type PodmanService } from './podman-service.js';

let podman: PodmanService;
let plane: ControlPlane;
let image: string;
let dir: string;

test.before(async () => {
  image = (await localImages()).operator;
  podman = await startPodmanService();
  plane = await startControlPlane({ kwok: false });
  await installCrds(plane.kubeConfig());
  dir = await mkdtemp(join(tmpdir(), 'chrysalis-operator-image-'));
});
test.after.always(async () => {
  await plane?.stop();
  await podman?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function readyz(port: number): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

test('the operator image given a kubeconfig reaches the local apiserver and becomes ready', async (t) => {
  // The image runs as 65532 and the kubeconfig is copied in world-readable, inside the container only.
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, await readFile(plane.kubeconfigPath));
  await chmod(kubeconfig, 0o600);
  const port = await freePort();
  let container: StartedTestContainer | undefined;
  try {
    // Host networking: the plane's apiserver listens on the host's loopback only.
    container = await new GenericContainer(image)
      .withNetworkMode('host')
      .withCopyFilesToContainer([{ source: kubeconfig, target: '/tmp/kubeconfig', mode: 0o444 }])
      .withCommand(['--components', 'controllers', '--kubeconfig', '/tmp/kubeconfig', '--metrics-port', String(port), '--attestation-port', '0'])
      .withEnvironment({ CHRYSALIS_LOG_LEVEL: 'info' })
      .start();
    let last: { status: number; body: string } | undefined;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      last = await readyz(port);
      if (last?.status === 200) break;
      await delay(500);
    }
    t.is(last?.status, 200, `readyz: ${JSON.stringify(last)}`);
  } finally {
    await container?.stop({ remove: true, timeout: 5_000 }).catch(() => undefined);
  }
});
