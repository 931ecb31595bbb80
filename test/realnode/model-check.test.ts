// The replica's model check runs for real: the attester image built here, as the init container the pod
// builder describes (operator/src/model/model-volume.ts), fetches a tar archive from a mirror Pod (busybox
// httpd, busybox tar) on the real node, unpacks it into an emptyDir, and lets the server container start on
// the read-only mount only when the hash it computed is the expected one. The expected hashes are computed
// here by the shell definition (docs/ARCHITECTURE.md §3.5) over the same files. A tampered archive stops
// the Pod at its init container, whose termination message names both hashes and is what the
// InferencePool controller reads (modelCheckOf). Needs root; fails, not skips, without it.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { repoRoot } from '../images/podman-service.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { modelCheckOf } from '../../operator/src/controllers/inferencepool/model-verified.js';
import { parseModelCheckReport } from '../../operator/src/model/model-check-report.js';
import { MODEL_CHECK_CONTAINER, replicaModel } from '../../operator/src/model/model-volume.js';
import { createNamespace, createPod, logContaining, waitForPhase } from './pods.js';

const run = promisify(execFile);
const NS = 'realnode-model-check';
const NAME = 'tiny/model';
const REVISION = '0e9e39f249a16976918f6564b8830bc894c89659';
const FILES: Record<string, string> = { 'config.json': '{"layers":2}', 'weights/model.gguf': 'GGUF tiny weights' };
const TAMPERED: Record<string, string> = { ...FILES, 'weights/model.gguf': 'GGUF tiny weightz' };

let plane: ControlPlane;
let node: RealNode;
let archives: string;
let attesterImage: string;

/** The expected hash as a platform team computes it: the shell tree root, then sha256sum of name@commit:root. */
function shellModelHash(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-model-'));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const root = execFileSync('bash', ['-c', `cd "$1" && { printf 'chrysalis-tree-v1\\n'; find . -type f -printf '%P\\n' | LC_ALL=C sort | while IFS= read -r f; do printf '%s\\0%s\\0%s\\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; done; } | sha256sum | cut -d' ' -f1`, 'x', dir]).toString().trim();
    return execFileSync('sha256sum', { input: `${NAME}@${REVISION}:${root}` }).toString().split(' ')[0]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A shell line writing `files` under `dir` (printf, so no trailing newline is added). */
function writeFilesScript(dir: string, files: Record<string, string>): string {
  return Object.entries(files).map(([path, content]) => `mkdir -p "$(dirname ${dir}/${path})" && printf '%s' '${content}' > ${dir}/${path}`).join(' && ');
}

test.before(async () => {
  archives = await mkdtemp(join(tmpdir(), 'chrysalis-oci-'));
  await run('bash', [join(repoRoot, 'scripts', 'build-images.sh'), '--oci-dir', archives], { maxBuffer: 64 * 1024 * 1024 })
    .catch((err: { stderr?: string }) => {
      throw new Error(`scripts/build-images.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`);
    });
  plane = await startControlPlane({ kwok: false });
  node = await startRealNode(plane);
  const imported = await node.importImage(join(archives, 'attester.oci.tar'));
  attesterImage = imported.find((name) => name.includes('/chrysalis-attester:')) as string;
  await createNamespace(plane.kubeConfig(), NS);
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
  if (archives) await rm(archives, { recursive: true, force: true });
});

function poolWith(source: string, hash: string): InferencePool {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: 'tiny', namespace: NS, uid: 'u' },
    spec: {
      model: { name: NAME, source, revision: REVISION, hash },
      runtime: { image: 'x@sha256:' + 'a'.repeat(64) }, replicas: { min: 1, max: 1 }, settlementAccountRef: { name: 's' },
    },
  };
}

/** A replica-shaped Pod: the operator's model check as init container, a busybox "server" on the read-only mount. */
function modelPod(name: string, pool: InferencePool): V1Pod {
  const model = replicaModel(pool);
  const restricted = { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      securityContext: { runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
      initContainers: [{
        name: MODEL_CHECK_CONTAINER, image: attesterImage, imagePullPolicy: 'Never', args: model.checkArgs,
        terminationMessagePolicy: 'File', securityContext: restricted, volumeMounts: [model.checkMount],
      }],
      containers: [{
        name: 'server', image: node.busyboxImage, imagePullPolicy: 'Never',
        command: ['/bin/busybox', 'sh', '-c', 'cat /model/config.json; echo; if touch /model/x 2>/dev/null; then echo writable; else echo read-only; fi'],
        securityContext: restricted, volumeMounts: [model.serverMount],
      }],
      volumes: [model.volume as never],
    },
  };
}

test.serial('a model fetched from a mirror on the node is checked by the attester image; a tampered one stops the replica with both hashes', async (t) => {
  const kc = plane.kubeConfig();
  const expected = shellModelHash(FILES);
  const tamperedHash = shellModelHash(TAMPERED);
  t.not(expected, tamperedHash);

  // The mirror: busybox writes the files, tars them (busybox tar: ustar with ./ entries) and serves them.
  await createPod(kc, NS, {
    metadata: { name: 'mirror' },
    spec: {
      containers: [{
        name: 'httpd', image: node.busyboxImage, imagePullPolicy: 'Never',
        command: ['/bin/busybox', 'sh', '-c', [
          writeFilesScript('/tmp/good', FILES), writeFilesScript('/tmp/bad', TAMPERED), 'mkdir -p /tmp/www',
          'busybox tar -cf /tmp/www/model.tar -C /tmp/good .', 'busybox tar -cf /tmp/www/tampered.tar -C /tmp/bad .',
          'exec busybox httpd -f -p 8080 -h /tmp/www',
        ].join(' && ')],
      }],
    },
  });
  const mirror = await waitForPhase(kc, NS, 'mirror', ['Running']);
  const base = `http://${mirror.status?.podIP}:8080`;

  await createPod(kc, NS, modelPod('good', poolWith(`${base}/model.tar`, expected)));
  await createPod(kc, NS, modelPod('bad', poolWith(`${base}/tampered.tar`, expected)));

  const good = await waitForPhase(kc, NS, 'good', ['Succeeded', 'Failed']);
  const goodCheck = good.status?.initContainerStatuses?.find((s) => s.name === MODEL_CHECK_CONTAINER);
  t.is(good.status?.phase, 'Succeeded', JSON.stringify(good.status?.initContainerStatuses));
  t.like(parseModelCheckReport(goodCheck?.state?.terminated?.message), { result: 'verified', hash: expected, files: 2 });
  const log = await logContaining(kc, NS, 'good', 'read-only');
  t.true(log.includes('{"layers":2}') && log.includes('read-only'), log);

  const bad = await waitForPhase(kc, NS, 'bad', ['Failed']);
  const badCheck = bad.status?.initContainerStatuses?.find((s) => s.name === MODEL_CHECK_CONTAINER);
  t.is(badCheck?.state?.terminated?.exitCode, 1);
  t.like(parseModelCheckReport(badCheck?.state?.terminated?.message), { result: 'mismatch', expected, computed: tamperedHash });
  t.true((bad.status?.containerStatuses ?? []).every((s) => !s.state?.running && !s.state?.terminated), 'the server never started');
  // What the InferencePool controller makes of that status.
  t.deepEqual(modelCheckOf(bad.status?.initContainerStatuses as never, expected), { state: 'mismatch', expected, computed: tamperedHash });
});
