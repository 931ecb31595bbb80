// The operator and attester images built here (scripts/build-images.sh) run as Pods on the real node with
// no registry: imported into the node's containerd from OCI archives, started by kubelet with
// runAsNonRoot (which kubelet enforces against the image's numeric USER), and answering --version.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
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

test.serial('the locally built operator and attester images run as non-root Pods on the real node and answer --version', async (t) => {
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

test.serial('a Pod of the operator image on the real node reaches the apiserver through the kubernetes Service as its ServiceAccount', async (t) => {
  const kc = plane.kubeConfig();
  await createNamespace(kc, 'realnode-in-cluster');
  const imported = await node.importImage(join(archives, 'operator.oci.tar'));
  const image = imported.find((name) => name.includes('/chrysalis-operator:'));
  // What in-cluster config does: the Service's ClusterIP from the environment, the mounted token and CA.
  const script = `
    const fs = require('node:fs'), https = require('node:https');
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount/';
    const req = https.request({
      host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT, method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', ca: fs.readFileSync(sa + 'ca.crt'),
      headers: { authorization: 'Bearer ' + fs.readFileSync(sa + 'token', 'utf8'), 'content-type': 'application/json' },
    }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => console.log('review', process.env.KUBERNETES_SERVICE_HOST, res.statusCode, JSON.parse(body).status.userInfo.username));
    });
    req.on('error', (err) => { console.log('error', err.message); process.exitCode = 1; });
    req.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }));`;
  await createPod(kc, 'realnode-in-cluster', {
    metadata: { name: 'whoami' },
    spec: {
      restartPolicy: 'Never',
      containers: [{
        name: 'whoami', image, imagePullPolicy: 'Never', command: ['/nodejs/bin/node', '-e', script],
        securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      }],
    },
  });
  const pod = await waitForPhase(kc, 'realnode-in-cluster', 'whoami', ['Succeeded', 'Failed']);
  const log = (await logContaining(kc, 'realnode-in-cluster', 'whoami', 'review')).trim();
  t.is(pod.status?.phase, 'Succeeded', log);
  t.is(log, 'review 10.96.0.1 201 system:serviceaccount:realnode-in-cluster:default');
});
