// The operator and attester images built here (scripts/build-images.sh) run as Pods on the real node with
// no registry: imported into the node's containerd from OCI archives, started by kubelet with
// runAsNonRoot (which kubelet enforces against the image's numeric USER), and answering --version.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.js';
import { startRealNode, type RealNode } from '../cluster/real-node.js';
import { repoRoot } from '../images/podman-service.js';
import { createNamespace, createPod, logContaining, waitForPhase } from './pods.js';

const run = promisify(execFile);
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
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
  if (archives) await rm(archives, { recursive: true, force: true });
});

test('the locally built operator and attester images run as non-root Pods on the real node and answer --version', async (t) => {
  const version = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const kc = plane.kubeConfig();
  await createNamespace(kc, 'realnode-images');
  for (const component of ['operator', 'attester']) {
    const imported = await node.importImage(join(archives, `${component}.oci.tar`));
    const image = imported.find((name) => name.includes(`/chrysalis-${component}:`));
    t.truthy(image, `imported ${imported.join(', ')}`);
    await createPod(kc, 'realnode-images', {
      metadata: { name: component },
      spec: {
        restartPolicy: 'Never',
        containers: [{
          name: component, image, imagePullPolicy: 'Never', args: ['--version'],
          securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        }],
      },
    });
  }
  for (const component of ['operator', 'attester']) {
    const pod = await waitForPhase(kc, 'realnode-images', component, ['Succeeded', 'Failed']);
    t.is(pod.status?.phase, 'Succeeded', JSON.stringify(pod.status?.containerStatuses));
    t.is((await logContaining(kc, 'realnode-images', component, version)).trim(), version);
  }
});
