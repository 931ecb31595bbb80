// A llama-cpp replica's model and server run for real on the real node: the Pod the operator's pod builder
// makes for an InferencePool with spec.runtime.server llama-cpp and the engine-cpu image built here, its
// model the tiny llama GGUF fetched as a tar archive from a mirror Pod on the node (a cluster-local
// source), checked against spec.model.hash by the attester image's model check, then loaded by the engine
// from the read-only mount with the preset's arguments, under the builder's restricted security context
// (non-root, read-only root filesystem). A client beside the engine in the Pod's network namespace gets a
// chat completion and a streamed one over 127.0.0.1, whose token chunks number usage.completion_tokens.
// The RA-TLS sidecar and `chrysalis chat` are not in this Pod (test/gateway/ covers them against a server
// on loopback); the sidecar is replaced by the client. Needs root; fails, not skips, without it.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { parseModelCheckReport } from '../../operator/src/model/model-check-report.js';
import { modelHash } from '../../operator/src/model/model-hash.js';
import { MODEL_CHECK_CONTAINER } from '../../operator/src/model/model-volume.js';
import { treeDigest } from '../../operator/src/model/tree-digest.js';
import { repoRoot } from '../images/podman-service.js';
import { createNamespace, createPod, waitForPhase } from './pods.js';

const run = promisify(execFile);
const NS = 'realnode-llama-cpp';
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

/**
 * A raw HTTP/1.0 request through busybox nc. Debian's busybox nc stops reading the answer when its input
 * ends, so the input stays open `waitSeconds` (the tiny model answers in well under a second).
 */
function ncRequest(method: string, path: string, body: object, waitSeconds: number): string {
  const json = JSON.stringify(body);
  const request = `${method} ${path} HTTP/1.0\\r\\nContent-Type: application/json\\r\\nContent-Length: ${Buffer.byteLength(json)}\\r\\n\\r\\n${json}`;
  return `{ printf '%b' '${request}'; sleep ${waitSeconds}; } | busybox nc 127.0.0.1 ${SERVED_PORT}`;
}

/** Splits the client's log into the two HTTP answers it printed between markers. */
function answers(log: string): { whole: string; stream: string } {
  const body = (marker: string) => {
    const section = log.split(`=== ${marker} begin`)[1]?.split(`=== ${marker} end`)[0] ?? '';
    // Headers end at the first blank line; the kubelet's log keeps the \r of each \r\n.
    const blank = /\r?\n\r?\n/.exec(section);
    return blank ? section.slice(blank.index + blank[0].length) : '';
  };
  return { whole: body('whole'), stream: body('stream') };
}

test.serial('the pod builder\'s llama-cpp replica loads the checked tiny llama from a cluster-local mirror and answers chat completions', async (t) => {
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

  // What this test keeps of the built Pod: the model check, the server and their volumes, as built;
  // the images are local (imagePullPolicy Never). The attester sidecar (RA-TLS, attestation) is replaced
  // by a client that asks the server twice and prints the answers.
  const spec = built.spec!;
  const server = spec.containers.find((c) => c.name !== 'attester' && c.image === images.engine)!;
  t.deepEqual(server.args, ['--model', '/model/model.gguf', '--host', '127.0.0.1', '--port', String(SERVED_PORT), '--served-model-name', MODEL_NAME]);
  const chat = { model: MODEL_NAME, messages: [{ role: 'user', content: 'Hello from the node' }], max_tokens: 8, seed: 3 };
  const client: V1Container = {
    name: 'client', image: node.busyboxImage, imagePullPolicy: 'Never',
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    command: ['/bin/busybox', 'sh', '-c', [
      `until ${ncRequest('GET', '/v1/models', {}, 1)} 2>/dev/null | grep -q '${MODEL_NAME}'; do sleep 1; done`,
      `echo '=== whole begin'; ${ncRequest('POST', '/v1/chat/completions', chat, 15)}; echo; echo '=== whole end'`,
      `echo '=== stream begin'; ${ncRequest('POST', '/v1/chat/completions', { ...chat, stream: true, stream_options: { include_usage: true } }, 15)}; echo '=== stream end'`,
      'exec sleep 3600',
    ].join('; ')],
  };
  const pod: V1Pod = {
    metadata: { name: 'tiny-0', labels: built.metadata?.labels },
    spec: {
      nodeName: node.name,
      securityContext: spec.securityContext,
      initContainers: spec.initContainers!.map((c) => ({ ...c, imagePullPolicy: 'Never' })),
      containers: [{ ...server, imagePullPolicy: 'Never' }, client],
      volumes: spec.volumes!.filter((v) => v.name !== 'attestation-token'),
    },
  };
  await createPod(kc, NS, pod);
  const running = await waitForPhase(kc, NS, 'tiny-0', ['Running', 'Failed'], 240_000);
  const check = running.status?.initContainerStatuses?.find((s) => s.name === MODEL_CHECK_CONTAINER);
  t.like(parseModelCheckReport(check?.state?.terminated?.message), { result: 'verified', hash, files: 1 });

  const core = kc.makeApiClient(CoreV1Api);
  let log = '';
  for (const deadline = Date.now() + 180_000; !log.includes('=== stream end') && Date.now() < deadline; await new Promise((r) => setTimeout(r, 1000))) {
    log = await core.readNamespacedPodLog({ name: 'tiny-0', namespace: NS, container: 'client' }).catch(() => '');
  }
  t.true(log.includes('=== stream end'), `the client's log: ${log}`);
  const { whole, stream } = answers(log);
  const parse = <T>(text: string): T => {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`not JSON: ${JSON.stringify(text)}; the client's log:\n${log}`);
    }
  };
  const answer = parse<{ model: string; choices: { message: { role: string; content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } }>(whole.trim());
  t.is(answer.model, MODEL_NAME);
  t.is(answer.choices[0]!.message.role, 'assistant');
  t.true(answer.usage.completion_tokens > 0 && answer.usage.completion_tokens <= 8, whole);
  const events = stream.split('\n\n').map((e) => e.trim()).filter(Boolean);
  t.is(events.at(-1), 'data: [DONE]', stream);
  type Chunk = { choices: { finish_reason: string | null; delta: { content?: string } }[]; usage: { completion_tokens: number } | null };
  const chunks = events.slice(0, -1).map((e) => parse<Chunk>(e.replace(/^data: /, '')));
  const usage = chunks.at(-1)!.usage!;
  t.is(chunks.filter((c) => c.choices[0]?.finish_reason === null).length, usage.completion_tokens);
  // Same seed, same model: the stream says what the whole answer said.
  t.is(chunks.filter((c) => c.choices[0]?.finish_reason === null).map((c) => c.choices[0]!.delta.content).join(''), answer.choices[0]!.message.content);
});
