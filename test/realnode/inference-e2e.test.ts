// Inference end to end on the real node, with Chrysalis installed by its chart (dev/in-cluster.ts: the
// controllers, the attestation service and the attester DaemonSet as Pods, no admin client in their path;
// this test uses the admin kubeconfig only to create objects and observe them):
//  1. an InferencePool (llama-cpp, the engine-cpu image built here, the tiny llama GGUF served as a tar by
//     a mirror Pod on the node, spec.model.hash computed here in Cocoon's format) and a sandbox
//     SettlementAccount are applied; the operator places the replica on the real node (node-cvm: the
//     sidecar reads the node's simulated TSM at the chart's attester.tsm.hostPath), the model check
//     verifies the hash (ModelVerified True), the sidecar attests with the chart's CA, the pool is Ready
//     with status.endpoint;
//  2. `chrysalis chat` as a subprocess, with the plane's kubeconfig, resolves the pool and its policy from
//     the cluster and gets a verified answer over RA-TLS (plain and streamed), through a relay in the
//     node's network namespace (the host has no route to Pod IPs);
//  3. the units metered for the account equal the prompt + completion tokens the client was told it
//     received (±0), and are committed and paid on the sandbox chain;
//  4. a pool whose mirror serves the model with one byte changed (same spec.model.hash) never becomes
//     Ready, its ModelVerified condition False naming both hashes; and a TLS server presenting the real
//     replica's evidence in a certificate of another key is refused by `chrysalis chat` (exit 1, the
//     reason code printed) before the prompt reaches it.
// Needs root (the real node); builds the images (scripts/build-images.sh, cached).
import test from 'ava';
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { buildRaTlsCertificate, parseRaTlsCertificate } from '../../attester/src/gateway/ra-tls-certificate.js';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { delay } from '../../dev/cluster/managed-process.js';
import type { PodRelay } from '../../dev/cluster/real-node.js';
import { installInCluster, type InClusterStack } from '../../dev/in-cluster.js';
import { providerClaims } from '../../dev/fleet/claims.js';
import { modelHashOf, startModelMirror } from '../../dev/model/model-mirror.js';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';
import type { InferencePool, ProviderNode, SettlementAccount } from '../../operator/src/api/index.js';
import { REPLICA_HTTPS_PORT } from '../../operator/src/controllers/inferencepool/endpoint.js';
import { ATTESTER_CONTAINER, SERVER_CONTAINER } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { ANNOTATION_ATTESTATION_CA, LABEL_POOL } from '../../operator/src/marks.js';
import { MODEL_CHECK_CONTAINER } from '../../operator/src/model/model-volume.js';
import { repoRoot } from '../images/podman-service.js';

const execFileP = promisify(execFile);
const NS = 'e2e-inference';
const GROUP = 'chrysalis.dev';
const VERSION = 'v1alpha1';
const MODEL_NAME = 'chrysalis/tiny-llama';
const REVISION = '2222222222222222222222222222222222222222';
const ACCOUNT = 'e2e';

interface ChatOutput {
  verified: boolean;
  code?: string;
  policy?: string;
  reasons?: { code: string; message: string }[];
  verdict?: { tee?: string; verified: boolean };
  answer?: { content: string; usage?: { promptTokens: number; completionTokens: number } };
}

/** `chrysalis chat` as a user runs it; never throws on a non-zero exit (the exit code is part of the answer). */
async function chat(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; json?: ChatOutput }> {
  const result = await execFileP(process.execPath, [join(repoRoot, 'cli', 'bin', 'chrysalis.js'), 'chat', ...args, '-n', NS, '-o', 'json', '--kubeconfig', kubeconfig],
    { cwd: repoRoot, timeout: 180_000, env: { ...process.env, KUBECONFIG: '' } })
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
    .catch((err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
  const line = result.stdout.split('\n').find((l) => l.startsWith('{'));
  return { ...result, ...(line ? { json: JSON.parse(line) as ChatOutput } : {}) };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, explain?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await delay(2000);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ''}${explain ? `\n${await explain().catch((e: Error) => e.message)}` : ''}`);
}

const condition = (obj: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }, type: string) =>
  obj.status?.conditions?.find((c) => c.type === type);

let plane: ControlPlane | undefined;
let stack: InClusterStack | undefined;
const relays: PodRelay[] = [];

test.after.always(async () => {
  for (const relay of relays) await relay.stop().catch(() => undefined);
  await stack?.stop();
  await plane?.stop();
});

test.serial('a pool on the real node serves its checked model over RA-TLS to chrysalis chat, is metered token for token and settled; a tampered model and a wrong key are refused', async (t) => {
  t.timeout(1_500_000);
  const say = (line: string) => t.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  plane = await startControlPlane({ kwok: false });
  // Two GPUs: the good pool's replica and the tampered pool's run side by side.
  stack = await installInCluster(plane, { say, settlementNamespaces: [NS], gpus: 2, engineCpu: true });
  const { node } = stack;
  const kc = plane.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const getPool = async (name: string) => (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'inferencepools', name })) as InferencePool;
  const getAccount = async () => (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'settlementaccounts', name: ACCOUNT })) as SettlementAccount;

  await until(`ProviderNode ${node.name} Attested`, async () => {
    const pn = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'providernodes', name: node.name })) as ProviderNode;
    return condition(pn, 'Attested')?.status === 'True' ? pn : undefined;
  }, 300_000);
  say(`ProviderNode ${node.name} Attested`);

  // The model and its tampered copy (one byte of the weights changed), each on a mirror Pod of its own.
  const gguf = tinyLlamaGguf(9);
  const tampered = Buffer.from(gguf);
  tampered[tampered.length - 100] = tampered[tampered.length - 100]! ^ 0x01;
  const hash = modelHashOf(MODEL_NAME, REVISION, { 'model.gguf': gguf });
  const tamperedHash = modelHashOf(MODEL_NAME, REVISION, { 'model.gguf': tampered });
  t.not(hash, tamperedHash);
  const [mirror, tamperedMirror] = await Promise.all([
    startModelMirror(kc, { namespace: NS, name: 'mirror', busyboxImage: node.busyboxImage, files: { 'model.gguf': gguf }, archive: 'tiny.tar' }),
    startModelMirror(kc, { namespace: NS, name: 'tampered-mirror', busyboxImage: node.busyboxImage, files: { 'model.gguf': tampered }, archive: 'tiny.tar' }),
  ]);

  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'settlementaccounts', body: {
    apiVersion: `${GROUP}/${VERSION}`, kind: 'SettlementAccount', metadata: { name: ACCOUNT },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1000', commissionBasisPoints: 250, feeAddress: `0:${'f'.repeat(64)}`, commitPeriodSeconds: 15 },
  } });
  const poolBody = (name: string, source: string) => ({
    apiVersion: `${GROUP}/${VERSION}`, kind: 'InferencePool', metadata: { name },
    spec: {
      model: { name: MODEL_NAME, source, revision: REVISION, hash, file: 'model.gguf' },
      runtime: { image: stack!.engineImage!, server: 'llama-cpp', port: 8000 },
      replicas: { min: 1, max: 1 }, gpusPerReplica: 1,
      tee: { types: ['simulated'], gpuCCRequired: false },
      settlementAccountRef: { name: ACCOUNT },
    },
  });
  for (const [name, source] of [['tiny', mirror.url], ['tampered', tamperedMirror.url]] as const) {
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'inferencepools', body: poolBody(name, source) });
  }
  say('applied SettlementAccount e2e and InferencePools tiny and tampered');

  const replicaOf = async (pool: string): Promise<V1Pod | undefined> =>
    (await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABEL_POOL}=${pool}` })).items[0];
  const explainPool = (name: string) => async () => {
    const pool = await getPool(name);
    const pod = await replicaOf(name);
    const logs = pod ? await Promise.all([MODEL_CHECK_CONTAINER, SERVER_CONTAINER, ATTESTER_CONTAINER].map((c) =>
      core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, container: c, tailLines: 15 }).then((l) => `--- ${c}\n${l}`, (e: Error) => `--- ${c}: ${e.message}`))) : [];
    const events = await core.listNamespacedEvent({ namespace: NS });
    return [`pool ${name} status: ${JSON.stringify(pool.status)}`, `replica: ${JSON.stringify(pod?.status)}`, ...logs,
      ...events.items.slice(-20).map((e) => `event ${e.involvedObject.kind}/${e.involvedObject.name}: ${e.reason}: ${e.message}`)].join('\n');
  };

  // 1. The pool is Ready on the real node, its model verified, with an endpoint.
  const ready = await until('InferencePool tiny Ready', async () => {
    const pool = await getPool('tiny');
    return condition(pool, 'Ready')?.status === 'True' ? pool : undefined;
  }, 600_000, explainPool('tiny'));
  say('InferencePool tiny Ready');
  t.is(condition(ready, 'ModelVerified')?.status, 'True', JSON.stringify(ready.status?.conditions));
  t.true(condition(ready, 'ModelVerified')!.message!.includes(hash));
  t.truthy(ready.status?.endpoint, JSON.stringify(ready.status));
  const replica = (await replicaOf('tiny'))!;
  t.is(replica.spec?.nodeName, node.name);
  t.true(replica.spec?.volumes?.some((v) => v.hostPath?.path === node.tsmPath), 'the node-cvm sidecar mounts the node\'s TSM at the chart\'s attester.tsm.hostPath');
  const sidecar = replica.spec?.containers.find((c) => c.name === ATTESTER_CONTAINER);
  t.true(sidecar?.args?.includes('--ca'), 'the sidecar verifies the attestation service with the chart\'s CA');
  t.is(replica.metadata?.annotations?.[ANNOTATION_ATTESTATION_CA]?.trim(), stack.ca.trim(), 'the chart\'s CA, from its TLS Secret');

  // 2. chrysalis chat, through a relay into the node's network namespace.
  const relay = await node.relayToPod(replica.status!.podIP!, REPLICA_HTTPS_PORT);
  relays.push(relay);
  const endpoint = `${relay.host}:${relay.port}`;
  const answers: ChatOutput[] = [];
  for (const extra of [[], ['--stream']]) {
    const r = await chat(plane.kubeconfigPath, ['tiny', 'Hello from the end-to-end test', '--endpoint', endpoint, '--max-tokens', '8', '--seed', '1', ...extra]);
    t.is(r.code, 0, `chrysalis chat ${extra.join(' ')}: ${r.stdout}\n${r.stderr}`);
    t.true(r.json?.verified, r.stdout);
    t.is(r.json?.verdict?.tee, 'simulated');
    t.is(r.json?.policy, 'default', 'the policy of the replica\'s host, from the cluster');
    const usage = r.json?.answer?.usage;
    t.truthy(usage, r.stdout);
    t.true(usage!.completionTokens > 0 && usage!.completionTokens <= 8, r.stdout);
    answers.push(r.json!);
  }
  const tokens = answers.reduce((sum, a) => sum + a.answer!.usage!.promptTokens + a.answer!.usage!.completionTokens, 0);
  say(`chrysalis chat answered twice: ${tokens} tokens`);

  // 4a. The tampered model: ModelVerified False naming both hashes, never Ready.
  const mismatch = await until('InferencePool tampered ModelVerified False', async () => {
    const pool = await getPool('tampered');
    return condition(pool, 'ModelVerified')?.status === 'False' ? pool : undefined;
  }, 300_000, explainPool('tampered'));
  const verified = condition(mismatch, 'ModelVerified')!;
  t.is(verified.reason, 'ModelHashMismatch');
  t.true(verified.message!.includes(hash) && verified.message!.includes(tamperedHash), verified.message);
  t.not(condition(mismatch, 'Ready')?.status, 'True');

  // 4b. A server with another key presenting the real replica's evidence (relabelled with its own key, as
  // a forger would): chrysalis chat refuses it with the reason code, and sends it nothing.
  const realDer = await new Promise<Buffer>((resolve, reject) => {
    const socket = tlsConnect({ host: relay.host, port: relay.port, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => {
      const raw = socket.getPeerCertificate(true).raw;
      socket.destroy();
      resolve(raw);
    });
    socket.once('error', reject);
  });
  const real = parseRaTlsCertificate(new Uint8Array(realDer));
  const impostor = AttesterIdentity.generate();
  const forged = buildRaTlsCertificate({
    publicKey: impostor.publicKey, sign: (tbs) => impostor.sign(tbs),
    evidence: { ...real.evidence, publicKey: impostor.publicKeyHex }, notBefore: real.notBefore, notAfter: real.notAfter,
  });
  const received: string[] = [];
  const impostorServer = createServer({ key: impostor.tlsPrivateKeyPem(), cert: forged.pem, minVersion: 'TLSv1.3' }, (req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => impostorServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => impostorServer.close(() => resolve())));
  const refused = await chat(plane.kubeconfigPath, ['tiny', 'This prompt must not leave the client', '--endpoint', `127.0.0.1:${(impostorServer.address() as AddressInfo).port}`]);
  t.is(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
  t.is(refused.json?.verified, false);
  t.is(refused.json?.code, 'BINDING_MISMATCH', refused.stdout);
  t.deepEqual(received, [], 'the impostor received no request');

  // 3. Metered == the tokens the client received, then committed and paid on the sandbox chain.
  const metered = await until(`SettlementAccount ${ACCOUNT} metered ≥ ${tokens}`, async () => {
    const account = await getAccount();
    const units = Number(account.status?.totals?.metered ?? 0);
    return units >= tokens ? units : undefined;
  }, 300_000, async () => JSON.stringify((await getAccount()).status));
  t.is(metered, tokens, 'units metered == prompt + completion tokens the client received');
  // Per pool, on the host's ProviderNode: the replica's folded counters are exactly the client's usage.
  const host = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'providernodes', name: node.name })) as ProviderNode;
  const cursor = host.status?.usageCursors?.find((c) => c.pool === `${NS}/tiny`);
  t.truthy(cursor, JSON.stringify(host.status?.usageCursors));
  const sum = (pick: (u: { promptTokens: number; completionTokens: number }) => number) => answers.reduce((s, a) => s + pick(a.answer!.usage!), 0);
  t.is(Number(cursor?.promptTokens), sum((u) => u.promptTokens));
  t.is(Number(cursor?.generationTokens), sum((u) => u.completionTokens));
  t.is(Number(cursor?.units), tokens);
  const claims = await providerClaims(new RestClient(kc), NS, await stack.sandboxDir(), say);
  t.teardown(() => claims.close());
  const settled = await until('paid == committed == metered', async () => {
    await claims.afterConfirmedEpochs();
    const account = await getAccount();
    const totals = account.status?.totals;
    return Number(totals?.committed ?? 0) === tokens && Number(totals?.paid ?? 0) === tokens ? account : undefined;
  }, 300_000, async () => JSON.stringify((await getAccount()).status));
  t.is(Number(settled.status!.totals!.metered), tokens);
  t.is(Number(settled.status!.totals!.committed), tokens);
  t.is(Number(settled.status!.totals!.paid), tokens);
});
