// End to end on a local control plane: the attester CLI (attester/bin/chrysalis-attester.js), run as real
// child processes with the simulated TEE, takes a ProviderNode and then an InferencePool replica to
// attested through the operator's real HTTPS attestation service. Nothing in this process
// stands in for the attester.
//
// The CLI's simulated TEE makes a fresh root in each process and writes its certificate with
// --simulated-root-out, so the test adds each process's root to the AttestationPolicy when the file
// appears, as an operator would pin a vendor root. The node attester starts before its ProviderNode exists.
// Until then the service answers 503 and the attester retries, so its first evidence is checked
// against a policy that already trusts its root. A first sidecar runs on another machine's simulated TEE
// under a policy that does not trust its root yet: its first evidence is refused (CHAIN_UNTRUSTED); the
// test pins the root and sends SIGHUP, which makes it attest again immediately, and the host (node-cvm)
// refuses it as another chip (REPLICA_HOST_MISMATCH). The sidecar then shares the host's simulated TEE
// (--simulated-state: one machine, one chip) and is attested. Before the sidecar runs, the test checks that forged
// answers are refused and the gate stays False: evidence bound to another key, evidence bound to another
// nonce, and a token bound to another pod.
//
// kwok's pod-ready stage sets every readiness gate True when a Pod starts. Because of that, a True gate alone
// proves nothing here: the test waits for the service's own verdict (reason Verified, with the attested key
// and expiry on the host's ProviderNode status).
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { attestedReplicaKey } from '../../operator/src/attestation/service/replica-keys.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { isConflict, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, READINESS_GATE_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { HttpsTransport } from '../../attester/src/transport.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import type { ControlPlane } from '../../dev/cluster/control-plane.js';
import { startPrivateOperator, type LocalOperator, type PrivateOperator } from '../../dev/fleet/operator.js';

const BIN = fileURLToPath(new URL('../../attester/bin/chrysalis-attester.js', import.meta.url));
const NODE = 'e2e-gpu-0';
const GPUS = 2;
const POLICY = 'e2e-policy';
const NS = 'chrysalis-e2e';
const ATTESTER_NS = 'chrysalis-e2e-attesters';
const ATTESTER_SA = 'chrysalis-attester';
const POOL = 'llm';
const REPLICA = `${POOL}-0`;
const AUDIENCE = 'chrysalis-attestation';

let stack: PrivateOperator;
let plane: ControlPlane;
let operator: LocalOperator;
let kc: KubeConfig;
let rest: RestClient;
let dir: string;
let caFile: string;

test.before(async () => {
  // Node evidence is accepted only from the node attesters' ServiceAccount, which this test makes.
  stack = await startPrivateOperator({ attesterServiceAccount: `${ATTESTER_NS}/${ATTESTER_SA}` });
  ({ plane, operator, kc, rest } = stack);
  dir = await mkdtemp(join(tmpdir(), 'chrysalis-e2e-'));
  caFile = join(dir, 'service-ca.pem');
  await writeFile(caFile, operator.ca);
});
test.after.always(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// --- Child processes ---------------------------------------------------------------------------------

interface LogLine {
  level?: string;
  message?: string;
  reasons?: Array<{ code: string; message: string }>;
  [k: string]: unknown;
}

interface AttesterProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The JSON log lines (winston, on stderr) so far. */
  logs(): LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the attester CLI as a process; it is killed (SIGTERM, then SIGKILL) when the test ends. */
function spawnAttester(t: ExecutionContext, args: string[]): AttesterProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    // The attester logs 'attested' at info; the test runner sets warn for the in-process operator.
    env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs: () => err.split('\n').flatMap((line) => {
      try {
        const v = JSON.parse(line) as unknown;
        return v && typeof v === 'object' ? [v as LogLine] : [];
      } catch {
        return [];
      }
    }),
    exited,
  };
}

/** Runs the attester CLI to completion (--once, --print). */
async function runAttester(t: ExecutionContext, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnAttester(t, args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

const simulatedArgs = (gpus: number, rootOut: string) => ['--tee', 'simulated', '--gpu', 'simulated', '--simulated-gpus', String(gpus), '--simulated-root-out', rootOut];

// --- Cluster helpers ---------------------------------------------------------------------------------

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, detail?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function fileText(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.includes('-----END CERTIFICATE-----') ? text : undefined;
}

async function applyPolicy(trustedRoots: string[]): Promise<void> {
  await rest.request('PATCH', resourcePath(AttestationPolicies, undefined, POLICY), {
    query: { fieldManager: 'chrysalis-e2e', force: true }, contentType: 'application/apply-patch+yaml',
    body: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: POLICY }, spec: { trustedRoots, allowSimulated: true, reattestIntervalSeconds: 3600 } },
  });
}

async function createIgnoringConflict(path: string, body: unknown): Promise<void> {
  await rest.request('POST', path, { body }).catch((e) => { if (!isConflict(e)) throw e; });
}

/** A TokenRequest for `serviceAccount` in `ns`, audience chrysalis-attestation, bound to `ref` (as the kubelet projects it). */
async function boundToken(ns: string, serviceAccount: string, ref: { kind: 'Node' | 'Pod'; name: string; uid: string }): Promise<string> {
  // The namespace's `default` ServiceAccount appears shortly after the namespace (kube-controller-manager).
  return until(`a token of ${ns}/${serviceAccount} bound to ${ref.kind} ${ref.name}`, async () => {
    const tr = await rest.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`, { body: {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: [AUDIENCE], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', ...ref } },
    } });
    return tr.status.token;
  }, 20_000);
}

/** The token a replica's sidecar gets: of the Pod's own ServiceAccount, bound to the Pod. */
const podToken = (pod: V1Pod) => boundToken(pod.metadata!.namespace!, pod.spec?.serviceAccountName ?? 'default', { kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! });

const getPod = (name: string) => rest.request<V1Pod>('GET', resourcePath(Pods, NS, name));
const getPool = () => rest.request<InferencePool>('GET', resourcePath(InferencePools, NS, POOL));
const getProviderNode = () => rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, NODE));
const gateOf = (pod: V1Pod) => pod.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED);
const conditionOf = (obj: { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }, type: string) => obj.status?.conditions?.find((c) => c.type === type);

async function writeSecret(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, { mode: 0o600 });
  return path;
}

// --- The test --------------------------------------------------------------------------------------------

test('a node attester and a replica sidecar, as processes, take a ProviderNode and a replica to Attested through the real service', async (t) => {
  const started = Date.now();
  const lap = (what: string) => t.log(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);

  // 1. The GPU Node (tainted until attested) and the node attester's bound token.
  const resources = { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': String(GPUS) };
  const node = await rest.request<{ metadata: { uid: string } }>('POST', resourcePath(Nodes), { body: {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: NODE, labels: { type: 'kwok' } },
    spec: { taints: [{ key: TAINT_UNATTESTED, value: 'true', effect: 'NoSchedule' }] },
    status: { capacity: resources, allocatable: resources },
  } });
  await createIgnoringConflict('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ATTESTER_NS } });
  await createIgnoringConflict(`/api/v1/namespaces/${ATTESTER_NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: ATTESTER_SA } });
  const nodeTokenFile = await writeSecret('node.token', await boundToken(ATTESTER_NS, ATTESTER_SA, { kind: 'Node', name: NODE, uid: node.metadata.uid }));

  // 2. The node attester, started before its ProviderNode exists: it retries the service's 503 until the
  //    operator issues a challenge, by which time the policy trusts the root it wrote at start.
  //    The host's simulated TEE is a root state the replica's sidecar shares later: one machine, one chip.
  const nodeRoot = join(dir, 'node-root.pem');
  const hostTee = await writeSecret('host-tee.json', JSON.stringify(SimulatedTee.create().exportRoot()));
  const nodeAttester = spawnAttester(t, [
    '--mode', 'node', '--node-name', NODE, '--service', operator.serviceUrl, '--ca', caFile, '--token-file', nodeTokenFile,
    ...simulatedArgs(GPUS, nodeRoot), '--simulated-state', hostTee,
  ]);
  const nodeRootPem = await until('the node attester to write its simulated root', () => fileText(nodeRoot), 30_000, () => nodeAttester.stderr());
  const trusted = [nodeRootPem];
  await applyPolicy(trusted);
  await rest.request('POST', resourcePath(ProviderNodes), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: NODE },
    spec: { nodeName: NODE, tee: 'simulated', gpus: { model: 'H100', count: GPUS, ccMode: 'on' }, payoutAddress: `0:${'ab'.repeat(32)}`, priceCoefficient: 1000, policyRef: { name: POLICY } },
  } });
  lap('node attester started, policy and ProviderNode created');

  const pn = await until('ProviderNode Attested=True', async () => {
    const p = await getProviderNode();
    return conditionOf(p, 'Attested')?.status === 'True' ? p : undefined;
  }, 45_000, () => nodeAttester.stderr());
  lap('ProviderNode Attested=True');
  t.is(conditionOf(pn, 'Attested')?.reason, 'Verified');
  t.true(pn.status?.attestation?.simulated, 'attested as a simulated TEE');
  t.is(pn.status?.attestation?.gpus?.length, GPUS, 'one GPU report per GPU');
  const nodeKey = pn.status?.attestation?.publicKey;
  t.regex(nodeKey ?? '', /^[0-9a-f]{64}$/, 'the node attester\'s Ed25519 key is recorded');
  // The verdict is stored before the service answers the attester: its own line may come a moment later.
  await until('the node attester process to say it attested', async () => (nodeAttester.logs().some((l) => l.message === 'attested') ? true : undefined), 30_000, () => nodeAttester.stderr());
  t.false(nodeAttester.logs().some((l) => l.message === 'attestation rejected'), 'its first evidence passed: the policy trusted its root before any challenge');
  t.is(nodeAttester.child.exitCode, null, 'the node attester keeps running');
  const k8sNode = await until('the unattested taint to be removed', async () => {
    const n = await rest.request<{ metadata: { labels?: Record<string, string> }; spec?: { taints?: Array<{ key: string }> } }>('GET', resourcePath(Nodes, undefined, NODE));
    return (n.spec?.taints ?? []).some((x) => x.key === TAINT_UNATTESTED) ? undefined : n;
  }, 20_000);
  t.is(k8sNode.metadata.labels?.[LABEL_ATTESTED], 'true', 'the node carries the attested label');
  lap('taint gone');

  // 3. An InferencePool of one replica: the operator places and binds it on the attested node. (Pods
  //    are admitted only once kube-controller-manager has made the namespace's default ServiceAccount.)
  await createIgnoringConflict('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await until(`ServiceAccount ${NS}/default`, () => rest.request('GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`), 20_000);
  await rest.request('POST', resourcePath(InferencePools, NS), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: POOL },
    spec: {
      model: { name: 'demo/model', source: 'pvc://models/model', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: 1, max: 1 }, gpusPerReplica: 1, gpuModels: ['H100'],
      tee: { types: ['simulated'], gpuCCRequired: true },
      maxPriceCoefficient: 1500, settlementAccountRef: { name: 'unused' },
    },
  } });
  // Bound, and started by kwok (which will not touch its status again once Running).
  const pod = await until(`replica ${REPLICA} bound to ${NODE} and Running`, async () => {
    const p = await getPod(REPLICA);
    return p.spec?.nodeName && p.status?.phase === 'Running' ? p : undefined;
  }, 30_000);
  lap('replica bound and running');
  t.is(pod.spec?.nodeName, NODE, 'the operator bound the replica to the attested node');
  t.is(pod.spec?.schedulerName, 'chrysalis');
  t.deepEqual(pod.spec?.readinessGates, [{ conditionType: READINESS_GATE_ATTESTED }]);
  const poolBefore = await getPool();
  t.not(poolBefore.status?.replicas?.attested, 1, 'no attested replica before any evidence');
  const replicaTokenFile = await writeSecret('replica.token', await podToken(pod));
  const replicaTransport = new HttpsTransport({ serviceUrl: operator.serviceUrl, ca: operator.ca, token: () => readFile(replicaTokenFile, 'utf8') });
  const subject = { kind: 'replica' as const, namespace: NS, pod: REPLICA };

  // 4. Forged answers are refused and leave the gate False.
  //    Evidence made by the CLI (--print) for the pending challenge, whose root the policy trusts...
  const printRoot = join(dir, 'print-root.pem');
  const challenge1 = await replicaTransport.challenge({ subject });
  const printed = await runAttester(t, ['--mode', 'replica', '--namespace', NS, '--pod', REPLICA, '--print', '--nonce', challenge1.nonce, ...simulatedArgs(1, printRoot)]);
  t.is(printed.code, 0, printed.stderr);
  const genuine = JSON.parse(printed.stdout) as EvidenceRequest;
  trusted.push((await fileText(printRoot))!);
  await applyPolicy(trusted);
  //    ...but claiming a different key than the one its report_data binds: refused (the CPU report and the
  //    one GPU, whose SPDM nonce is derived from the key, both fail their binding).
  const otherKey = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
  const wrongKey = await replicaTransport.evidence({ ...genuine, publicKey: otherKey });
  t.false(wrongKey.verified, 'evidence bound to another key is refused');
  t.deepEqual(wrongKey.reasons.map((r) => r.code), ['BINDING_MISMATCH', 'BINDING_MISMATCH'], JSON.stringify(wrongKey.reasons));
  let gate = gateOf(await getPod(REPLICA));
  t.is(gate?.status, 'False');
  t.is(gate?.reason, 'BindingMismatch');
  //    The same genuine evidence offered as the answer to the next challenge (bound to an old nonce): refused.
  const challenge2 = await replicaTransport.challenge({ subject });
  t.not(challenge2.nonce, challenge1.nonce, 'each verdict consumes its challenge');
  const replayed = await replicaTransport.evidence({ ...genuine, nonce: challenge2.nonce });
  t.false(replayed.verified, 'evidence bound to another nonce is refused');
  // The CPU report_data binds the old nonce, and the GPU's SPDM nonce is derived from the old one.
  t.deepEqual(replayed.reasons.map((r) => r.code), ['BINDING_MISMATCH', 'BINDING_MISMATCH'], JSON.stringify(replayed.reasons));
  gate = gateOf(await getPod(REPLICA));
  t.is(gate?.status, 'False');
  t.is(gate?.reason, 'BindingMismatch');
  //    A sidecar holding a token bound to another pod cannot attest this replica (403 before any challenge).
  const impostor = await rest.request<V1Pod>('POST', resourcePath(Pods, NS), { body: {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'impostor' },
    spec: { schedulerName: 'nobody', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
  } });
  const impostorTokenFile = await writeSecret('impostor.token', await podToken(impostor));
  const stolen = await runAttester(t, [
    '--mode', 'replica', '--namespace', NS, '--pod', REPLICA, '--once', '--service', operator.serviceUrl, '--ca', caFile, '--token-file', impostorTokenFile,
    ...simulatedArgs(1, join(dir, 'impostor-root.pem')),
  ]);
  t.is(stolen.code, 2, `refused token: exit 2\n${stolen.stdout}${stolen.stderr}`);
  t.regex(stolen.stderr, new RegExp(`SERVICE_ERROR: .*answered 403: .*token is bound to pod ${NS}/impostor, not ${NS}/${REPLICA}`));
  const afterNegatives = await getPod(REPLICA);
  t.is(gateOf(afterNegatives)?.status, 'False', 'the gate stays False');
  t.is(gateOf(afterNegatives)?.lastTransitionTime, gate?.lastTransitionTime, 'the refused token wrote no verdict');
  t.is(attestedReplicaKey(await getProviderNode(), afterNegatives, new Date()), undefined, 'no attested key');
  t.deepEqual((await getProviderNode()).status?.replicaChallenges?.filter((c) => c.pod === REPLICA) ?? [], [], 'no challenge was issued to the impostor');
  t.not((await getPool()).status?.replicas?.attested, 1, 'still no attested replica');
  lap('forged answers refused');

  // 5. A sidecar process on another machine's TEE (a root of its own): its root is not trusted yet, so
  //    its first evidence is refused (CHAIN_UNTRUSTED). Once the root is pinned, SIGHUP makes it attest
  //    again at once, and now the evidence verifies but comes from another chip than the node-cvm host's
  //    (REPLICA_HOST_MISMATCH). The sidecar that then runs on the host's own TEE is attested.
  const sidecarRoot = join(dir, 'sidecar-root.pem');
  const stray = spawnAttester(t, [
    '--mode', 'replica', '--namespace', NS, '--pod', REPLICA, '--service', operator.serviceUrl, '--ca', caFile, '--token-file', replicaTokenFile,
    ...simulatedArgs(1, sidecarRoot),
  ]);
  const sidecarRootPem = await until('the sidecar to write its simulated root', () => fileText(sidecarRoot), 30_000, () => stray.stderr());
  const firstVerdict = await until('the sidecar\'s first verdict', async () => stray.logs().find((l) => l.message === 'attested' || l.message === 'attestation rejected'), 30_000, () => stray.stderr());
  t.is(firstVerdict.message, 'attestation rejected', 'a root the policy does not trust is refused');
  // One reason for the CPU report and one per GPU report, each chained to the same unpinned root.
  t.deepEqual(firstVerdict.reasons?.map((r) => r.code), ['CHAIN_UNTRUSTED', 'CHAIN_UNTRUSTED'], JSON.stringify(firstVerdict.reasons));
  const untrusted = await getPod(REPLICA);
  t.is(gateOf(untrusted)?.status, 'False');
  t.is(gateOf(untrusted)?.reason, 'ChainUntrusted');
  t.not((await getPool()).status?.replicas?.attested, 1);
  trusted.push(sidecarRootPem);
  await applyPolicy(trusted);
  stray.child.kill('SIGHUP');
  lap('sidecar refused under the old policy; root pinned, SIGHUP sent');
  const secondVerdict = await until('the stray sidecar\'s verdict under the new policy', async () =>
    stray.logs().find((l) => l.message === 'attested' || (l.message === 'attestation rejected' && l.reasons?.some((r) => r.code !== 'CHAIN_UNTRUSTED'))), 30_000, () => stray.stderr());
  t.is(secondVerdict.message, 'attestation rejected', 'evidence from another machine does not speak for a replica of this node-cvm host');
  t.deepEqual(secondVerdict.reasons?.map((r) => r.code), ['REPLICA_HOST_MISMATCH'], JSON.stringify(secondVerdict.reasons));
  stray.child.kill('SIGTERM');
  const sidecar = spawnAttester(t, [
    '--mode', 'replica', '--namespace', NS, '--pod', REPLICA, '--service', operator.serviceUrl, '--ca', caFile, '--token-file', replicaTokenFile,
    ...simulatedArgs(1, join(dir, 'sidecar-host-root.pem')), '--simulated-state', hostTee,
  ]);
  lap('stray sidecar refused as another machine; the sidecar on the host\'s TEE started');

  // 6. The service's verdict on the replica: gate True (Verified), the sidecar's key and expiry recorded.
  const attested = await until(`the ${READINESS_GATE_ATTESTED} gate True by the service`, async () => {
    const p = await getPod(REPLICA);
    return gateOf(p)?.status === 'True' && gateOf(p)?.reason === 'Verified' ? p : undefined;
  }, 30_000, () => sidecar.stderr());
  lap('replica gate True');
  // The service writes the gate before it answers the sidecar, so the sidecar's own line may come a moment later.
  await until('the sidecar process to say it attested', async () => (sidecar.logs().some((l) => l.message === 'attested') ? true : undefined), 30_000, () => sidecar.stderr());
  t.pass('the sidecar process says it attested');
  t.is(sidecar.child.exitCode, null, 'the sidecar keeps running');
  // The key and expiry are on the host's ProviderNode status, where only the service writes.
  const bound = attestedReplicaKey(await getProviderNode(), attested, new Date());
  const replicaKey = bound?.publicKey;
  t.regex(replicaKey ?? '', /^[0-9a-f]{64}$/, 'the sidecar\'s Ed25519 key is recorded');
  t.not(replicaKey, nodeKey, 'the replica binds its own key, not the node\'s');
  t.not(replicaKey, genuine.publicKey);
  t.not(replicaKey, otherKey);
  t.true((bound?.expiresAt.getTime() ?? 0) > Date.now(), 'the verdict has an expiry in the future');
  t.regex(gateOf(attested)?.message ?? '', /^replica evidence verified; its key and the key.s expiry are on the host/);

  // 7. The pool counts it: placed, attested, ready; Ready=True.
  const pool = await until('the pool Ready=True with the replica attested', async () => {
    const p = await getPool();
    return conditionOf(p, 'Ready')?.status === 'True' && p.status?.replicas?.attested === 1 ? p : undefined;
  }, 30_000);
  lap('pool Ready=True');
  t.like(pool.status?.replicas, { desired: 1, placed: 1, attested: 1, ready: 1 });
  t.deepEqual(pool.status?.placements?.map((p) => [p.pod, p.node]), [[REPLICA, NODE]]);
  t.regex(conditionOf(pool, 'Ready')?.message ?? '', /^1 of 1 replicas attested and ready$/);
  // The node is still attested (the policy edits did not disturb it), and both attesters still run.
  t.is(conditionOf(await getProviderNode(), 'Attested')?.status, 'True');
  t.is(nodeAttester.child.exitCode, null);
});
