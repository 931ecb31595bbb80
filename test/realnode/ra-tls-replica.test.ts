// The replica path a client takes, for real on the real node: the Pod the operator's pod builder makes for an
// InferencePool with spec.runtime.server llama-cpp — the attester image's model check (the tiny llama GGUF
// fetched as a tar from a mirror Pod: a cluster-local source, checked against spec.model.hash), the
// engine-cpu image serving it on 127.0.0.1 with the preset's arguments, and the attester sidecar serving
// RA-TLS in front of it — and the client library `chrysalis chat` uses (cli/src/client/) verifying the
// replica's certificate evidence against the simulated TEE's policy from the host before it sends a byte,
// then getting a whole and a streamed answer from the model. The sidecar issues under the simulated root
// the test holds (--simulated-state from a Secret, the chart's convention for attesters: the pod builder
// does not pass one to replica sidecars yet). Not here: the operator reconciling the pool, the attestation
// service and the sidecar's usage reports (its service URL does not resolve), `chrysalis chat` resolving
// the pool. The host reaches the Pod through a TCP relay in the node's network namespace. Needs root.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { chatCompletion, connectAttested, type AttestedConnection } from '../../cli/src/client/index.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { REPLICA_HTTPS_PORT } from '../../operator/src/controllers/inferencepool/endpoint.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { ATTESTER_CONTAINER, buildReplicaPod, SERVER_CONTAINER } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { parseModelCheckReport } from '../../operator/src/model/model-check-report.js';
import { modelHash } from '../../operator/src/model/model-hash.js';
import { MODEL_CHECK_CONTAINER } from '../../operator/src/model/model-volume.js';
import { treeDigest } from '../../operator/src/model/tree-digest.js';
import { repoRoot } from '../images/podman-service.js';
import { createNamespace, createPod, waitForPhase } from './pods.js';

const run = promisify(execFile);
const NS = 'realnode-ra-tls';
const STATE_DIR = '/var/run/secrets/chrysalis-simulated';
const tee = SimulatedTee.create({ gpus: 1 });
const MODEL_NAME = 'chrysalis/tiny-llama';
const REVISION = '1111111111111111111111111111111111111111';
const SERVED_PORT = 8000;

let plane: ControlPlane;
let node: RealNode;
let archives: string;
let images: { attester: string; engine: string };

test.before(async () => {
  archives = await mkdtemp(join(tmpdir(), 'chrysalis-oci-'));
  await run('bash', [join(repoRoot, 'scripts', 'build-images.sh'), '--oci-dir', archives], { maxBuffer: 64 * 1024 * 1024 }).catch((err: { stderr?: string }) => {
    throw new Error(`scripts/build-images.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`);
  });
  plane = await startControlPlane({ kwok: false });
  node = await startRealNode(plane, { gpus: 1 });
  const attester = (await node.importImage(join(archives, 'attester.oci.tar'))).find((n) => n.includes('/chrysalis-attester:'));
  const engine = (await node.importImage(join(archives, 'engine-cpu.oci.tar'))).find((n) => n.includes('/chrysalis-engine-cpu:'));
  if (!attester || !engine) throw new Error(`images not imported: attester ${attester}, engine ${engine}`);
  images = { attester, engine };
  await createNamespace(plane.kubeConfig(), NS);
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
  if (archives) await rm(archives, { recursive: true, force: true });
});

test.serial('a client verifies the pod builder\'s llama-cpp replica over RA-TLS and gets answers from the checked tiny llama', async (t) => {
  const kc = plane.kubeConfig();
  const gguf = tinyLlamaGguf(9);
  const root = treeDigest([{ path: 'model.gguf', size: gguf.length, sha256: createHash('sha256').update(gguf).digest('hex') }]);
  const hash = modelHash(MODEL_NAME, REVISION, root);

  // The mirror: the model file from a ConfigMap, tarred by busybox and served over HTTP on the node.
  await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'tiny-llama' }, binaryData: { 'model.gguf': gguf.toString('base64') } } });
  await createPod(kc, NS, {
    metadata: { name: 'mirror' },
    spec: {
      containers: [{
        name: 'httpd', image: node.busyboxImage, imagePullPolicy: 'Never',
        command: ['/bin/busybox', 'sh', '-c', 'mkdir -p /tmp/m /tmp/www && cp /data/model.gguf /tmp/m/ && busybox tar -cf /tmp/www/tiny.tar -C /tmp/m . && exec busybox httpd -f -p 8080 -h /tmp/www'],
        volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
      }],
      volumes: [{ name: 'data', configMap: { name: 'tiny-llama' } }],
    },
  });
  const mirror = await waitForPhase(kc, NS, 'mirror', ['Running']);

  const pool: InferencePool = {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name: 'tiny', namespace: NS, uid: '00000000-0000-0000-0000-000000000001' },
    spec: {
      model: { name: MODEL_NAME, source: `http://${mirror.status?.podIP}:8080/tiny.tar`, revision: REVISION, hash, file: 'model.gguf' },
      runtime: { image: images.engine, server: 'llama-cpp', port: SERVED_PORT },
      replicas: { min: 1, max: 1 }, gpusPerReplica: 1, settlementAccountRef: { name: 's' },
    },
  };
  const config: OperatorConfig = { ...DEFAULT_CONFIG, attesterImage: images.attester, attestationServiceUrl: 'https://attestation.invalid:8443' };
  const built = buildReplicaPod({
    pool, index: 0, tee: 'simulated', node: node.name, config,
    // pod-cvm: the sidecar's own simulated sources, its root given below by --simulated-state. This node
    // has no simulated configfs-TSM, which a simulated node-cvm replica would mount (replica-tee-access.ts).
    topology: 'pod-cvm',
  }) as unknown as V1Pod;

  // The sidecar issues its evidence under the test's simulated root, as the chart's attesters do.
  await kc.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'simulated-root' }, stringData: { 'state.json': JSON.stringify(tee.exportRoot()) } } });
  const spec = built.spec!;
  const server = spec.containers.find((c) => c.name === SERVER_CONTAINER)!;
  const attester = spec.containers.find((c) => c.name === ATTESTER_CONTAINER)!;
  t.deepEqual(server.args, ['--model', '/model/model.gguf', '--host', '127.0.0.1', '--port', String(SERVED_PORT), '--served-model-name', MODEL_NAME]);
  const pod: V1Pod = {
    ...built,
    metadata: { name: built.metadata!.name, labels: built.metadata?.labels },
    spec: {
      ...spec,
      readinessGates: undefined,
      initContainers: spec.initContainers!.map((c) => ({ ...c, imagePullPolicy: 'Never' })),
      containers: [
        { ...server, imagePullPolicy: 'Never' },
        {
          ...attester,
          imagePullPolicy: 'Never',
          args: [...attester.args!, `--simulated-state=${STATE_DIR}/state.json`],
          volumeMounts: [...(attester.volumeMounts ?? []), { name: 'simulated-state', mountPath: STATE_DIR, readOnly: true }],
        },
      ],
      volumes: [...spec.volumes!, { name: 'simulated-state', secret: { secretName: 'simulated-root' } }],
    },
  };
  await createPod(kc, NS, pod);
  const running = await waitForPhase(kc, NS, pod.metadata!.name!, ['Running', 'Failed'], 240_000);
  const check = running.status?.initContainerStatuses?.find((s) => s.name === MODEL_CHECK_CONTAINER);
  t.like(parseModelCheckReport(check?.state?.terminated?.message), { result: 'verified', hash, files: 1 });

  const relay = await node.relayToPod(running.status!.podIP!, REPLICA_HTTPS_PORT);
  t.teardown(() => relay.stop());
  const port = relay.port;
  let connection: AttestedConnection | undefined;
  let last: unknown;
  for (const deadline = Date.now() + 120_000; !connection && Date.now() < deadline; ) {
    connection = await connectAttested({ host: node.nodeIP, port, policy: tee.policy() }).catch((err: unknown) => {
      last = err;
      return undefined;
    });
    if (!connection) await new Promise((r) => setTimeout(r, 1000));
  }
  if (!connection) {
    const core = kc.makeApiClient(CoreV1Api);
    const logs = await Promise.all([SERVER_CONTAINER, ATTESTER_CONTAINER].map((c) => core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, container: c, tailLines: 20 }).catch((e: Error) => e.message)));
    throw new Error(`no verified connection to the replica: ${String(last)}\n${logs.join('\n---\n')}`);
  }
  t.teardown(() => connection!.close());
  t.true(connection.verdict.verified);
  t.is(connection.verdict.tee, 'simulated');

  // The sidecar serves as soon as it has a key; the engine answers once its model is loaded (a 502 from
  // the terminator until then: the server container has no readiness probe of its own).
  let whole: Awaited<ReturnType<typeof chatCompletion>> | undefined;
  for (const deadline = Date.now() + 120_000; !whole; ) {
    whole = await chatCompletion(connection, { model: MODEL_NAME, prompt: 'Hello from the host', maxTokens: 8, seed: 1 }).catch((err: Error) => {
      if (!/HTTP 502/.test(err.message) || Date.now() > deadline) throw err;
      return undefined;
    });
    if (!whole) await new Promise((r) => setTimeout(r, 1000));
  }
  t.true((whole.usage?.completionTokens ?? 0) > 0 && whole.usage!.completionTokens <= 8, JSON.stringify(whole));
  const pieces: string[] = [];
  const streamed = await chatCompletion(connection, { model: MODEL_NAME, prompt: 'And a streamed one', maxTokens: 8, stream: true, seed: 1 }, (p) => pieces.push(p));
  t.true((streamed.usage?.completionTokens ?? 0) > 0, JSON.stringify(streamed));
  t.is(pieces.join(''), streamed.content);
});
