// `chrysalis chat <pool>` finding its replica through the cluster: the pool's Ready replica Pod (controlled
// by the pool) by Pod IP on its `https` container port, verified against the AttestationPolicy its host
// ProviderNode names. The "replica" is a simulated RA-TLS gateway in this process on 127.0.0.1 (the Pod's
// status says so), in front of a fake OpenAI-compatible server. A pod-cvm host's replica is verified
// against the policy's replica allow lists; a policy without them refuses it before any connection.
import test, { type ExecutionContext } from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { installCrds } from '../../dev/install-crds.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { AttestationPolicies, InferencePools } from '../../operator/src/kube/chrysalis-resources.js';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL } from '../../operator/src/marks.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { createPool, createProviderNode, runCli, uniqueRun } from './helpers.js';

const tee = await SimulatedTee.create({ gpus: 1 });
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

async function simulatedReplica(t: ExecutionContext) {
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'found through the cluster' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 4 } }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const identity = AttesterIdentity.generate();
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const gateway = new RaTlsGateway({
    identity,
    makeEvidence: async (nonce) => {
      const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
      return bundle;
    },
    upstreamPort: (upstream.address() as AddressInfo).port,
    usage: { prepareRequest: (_p, body) => body, createUsageTap: () => ({ write() {}, end() {} }) },
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await gateway.close();
    upstream.close();
  });
  return { port, seen, identity };
}

/** A pool with one Ready replica Pod on `nodeName`, whose https port is where the simulated replica listens. */
async function poolWithReplica(t: ExecutionContext, kc: ReturnType<Awaited<ReturnType<typeof testCluster>>['kubeConfig']>, ns: string, pool: string, run: string, nodeName: string, httpsPort: number) {
  await createPool(t, kc, ns, pool, run);
  const rest = new RestClient(kc);
  t.teardown(() => rest.close());
  const created = await rest.request<InferencePool>('GET', resourcePath(InferencePools, ns, pool));
  const name = `${pool}-0`;
  await rest.request('POST', resourcePath(Pods, ns), {
    body: {
      metadata: { name, labels: { [LABEL_POOL]: pool }, ownerReferences: [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: pool, uid: created.metadata.uid, controller: true }] },
      spec: { nodeName, containers: [{ name: 'attester', image: 'example.invalid/attester:0', ports: [{ name: 'https', containerPort: httpsPort }] }] },
    },
  });
  await rest.request('PATCH', resourcePath(Pods, ns, name, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }], conditions: [{ type: 'Ready', status: 'True' }] } },
  });
}

async function createPolicy(t: ExecutionContext, kc: ReturnType<Awaited<ReturnType<typeof testCluster>>['kubeConfig']>, name: string, spec: Record<string, unknown>): Promise<void> {
  const rest = new RestClient(kc);
  await rest.request('POST', resourcePath(AttestationPolicies, undefined), { body: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name }, spec } });
  rest.close();
  t.teardown(() => new RestClient(kc).request('DELETE', resourcePath(AttestationPolicies, undefined, name)).then(() => undefined, () => undefined));
}

test("chat finds the pool's Ready replica by Pod IP and verifies it against its host's AttestationPolicy", async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const ns = await useNamespace(t, 'cli-chat');
  const run = uniqueRun();
  const replica = await simulatedReplica(t);
  const policyName = `chat-sim-${run}`;
  await createPolicy(t, kc, policyName, { ...tee.policy() });
  await createProviderNode(t, kc, `chat-host-${run}`, run, { nodeName: `chat-node-${run}`, tee: 'simulated', policyRef: { name: policyName } });
  await poolWithReplica(t, kc, ns, 'llm', run, `chat-node-${run}`, replica.port);

  const r = await runCli(['chat', 'llm', 'hello', '-n', ns, '-o', 'json'], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(r.code, 0, r.stdout + r.stderr);
  const doc = JSON.parse(r.stdout) as { verified: boolean; policy: string; target: string; model: string; verdict: { publicKey: string; tee: string }; answer: { content: string } };
  t.true(doc.verified);
  t.is(doc.policy, policyName);
  t.is(doc.target, 'replica llm-0');
  t.is(doc.model, 'meta-llama/Llama-3.1-8B-Instruct');
  t.is(doc.verdict.publicKey, replica.identity.publicKeyHex);
  t.is(doc.answer.content, 'found through the cluster');
  t.deepEqual(replica.seen, ['/v1/chat/completions']);

  // A policy named with --policy that pins another guest image: refused, nothing sent.
  const strictName = `chat-strict-${run}`;
  await createPolicy(t, kc, strictName, { ...tee.policy(), allowedMeasurements: ['00'.repeat(48)] });
  const refused = await runCli(['chat', 'llm', 'hello', '-n', ns, '--policy', strictName], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stdout, /^refused: MEASUREMENT_NOT_ALLOWED/m);
  t.is(replica.seen.length, 1);
});

test('a pod-cvm host whose policy pins no replica image: chat refuses before connecting (MEASUREMENT_NOT_ALLOWED)', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const ns = await useNamespace(t, 'cli-chat-podcvm');
  const run = uniqueRun();
  const replica = await simulatedReplica(t);
  const policyName = `chat-podcvm-${run}`;
  await createPolicy(t, kc, policyName, { ...tee.policy() });
  await createProviderNode(t, kc, `chat-pc-${run}`, run, { nodeName: `chat-pc-node-${run}`, tee: 'simulated', topology: 'pod-cvm', policyRef: { name: policyName } });
  await poolWithReplica(t, kc, ns, 'llm', run, `chat-pc-node-${run}`, replica.port);

  const r = await runCli(['chat', 'llm', 'hello', '-n', ns, '-o', 'json'], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(r.code, 1, r.stdout + r.stderr);
  t.like(JSON.parse(r.stdout), { verified: false, code: 'MEASUREMENT_NOT_ALLOWED', policy: policyName });
  t.deepEqual(replica.seen, []);
});
