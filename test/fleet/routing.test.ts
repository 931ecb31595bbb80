// Routing only to attested replicas with the real attestation flow: a private control plane, the whole
// operator in this process and a small simulated fleet whose replica sidecars attest against the real
// attestation service. Once the pool is Ready, every replica carries the routing label the controller set
// from the service's verdicts, the pool's Service selects exactly them (its EndpointSlices list them), and
// a Pod that only claims the pool label is neither labelled nor routed to.
import test from 'ava';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { InferencePool } from '../../operator/src/api/inferencepool.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { isConflict, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED } from '../../operator/src/marks.js';
import { createFleet, LABEL_FLEET, type Fleet } from '../../dev/fleet/fleet.js';
import { startPrivateOperator, type LocalOperator, type PrivateOperator } from '../../dev/fleet/operator.js';

const NODES = 6;
const REPLICAS = 2;
const PREFIX = 'route';
const POLICY = 'fleet-route';
const NS = 'route-test';
const POOL = 'chat';

let stack: PrivateOperator;
let operator: LocalOperator;
let kc: KubeConfig;
let rest: RestClient;

test.before(async () => {
  stack = await startPrivateOperator({ rest: { qps: 100, burst: 200 } });
  ({ operator, kc, rest } = stack);
});
test.after.always(async () => {
  await stack?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `; last seen: ${await describe().catch(String)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const getPool = () => rest.request<InferencePool>('GET', resourcePath(InferencePools, NS, POOL));
const replicaPods = async () => (await rest.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${NS}/pods`, { query: { labelSelector: `${LABEL_POOL}=${POOL}` } })).items;
async function endpointPods(): Promise<string[]> {
  const slices = await rest.request<{ items: Array<{ endpoints?: Array<{ targetRef?: { name?: string } }> }> }>('GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, { query: { labelSelector: `kubernetes.io/service-name=${POOL}` } });
  return slices.items.flatMap((s) => s.endpoints ?? []).map((e) => e.targetRef?.name ?? '').sort();
}

test.serial('with real verdicts every ready replica carries the routing label and the pool\'s Service routes to exactly them', async (t) => {
  const fleet: Fleet = await createFleet(kc, { nodes: NODES, serviceUrl: operator.serviceUrl, ca: operator.ca, namePrefix: PREFIX, policyName: POLICY, providers: 3 });
  t.teardown(() => fleet.stop());
  await until(`all ${NODES} ProviderNodes Attested=True`, async () => {
    const list = await rest.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes), { query: { labelSelector: `${LABEL_FLEET}=${PREFIX}` } });
    return list.items.length === NODES && list.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True')) ? true : undefined;
  }, 90_000);

  await rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } }).catch((e) => { if (!isConflict(e)) throw e; });
  await rest.request('POST', resourcePath(InferencePools, NS), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name: POOL },
    spec: {
      model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'pvc://models/llama-3.1-8b-instruct', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: REPLICAS, max: REPLICAS }, gpusPerReplica: 1, gpuModels: ['H100'],
      tee: { types: ['simulated'], gpuCCRequired: true },
      settlementAccountRef: { name: 'sandbox' },
    },
  } });

  const describe = async () => JSON.stringify((await replicaPods()).map((p) => ({ name: p.metadata?.name, labels: p.metadata?.labels, ready: p.status?.conditions?.find((c) => c.type === 'Ready')?.status })));
  await until('the pool Ready', async () => ((await getPool()).status?.replicas?.ready === REPLICAS ? true : undefined), 90_000, describe);
  const pods = await until('every replica labelled', async () => {
    const live = (await replicaPods()).filter((p) => !p.metadata?.deletionTimestamp);
    return live.length === REPLICAS && live.every((p) => p.metadata?.labels?.[LABEL_REPLICA_ATTESTED] === 'true') ? live : undefined;
  }, 30_000, describe);
  const names = pods.map((p) => p.metadata?.name as string).sort();
  await until('the Service\'s endpoints are the replicas', async () => (JSON.stringify(await endpointPods()) === JSON.stringify(names) ? true : undefined), 30_000, async () => JSON.stringify(await endpointPods()));
  t.deepEqual((await getPool()).status?.endpoint, { service: POOL, url: `https://${POOL}.${NS}.svc` });

  // A Pod that carries the pool label (as admin: the chart's admission policy is not installed here) but
  // never attested is not labelled by the controller and not routed to.
  await rest.request('POST', `/api/v1/namespaces/${NS}/pods`, { body: {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `${POOL}-impostor`, labels: { [LABEL_POOL]: POOL } },
    spec: { nodeName: pods[0]!.spec!.nodeName, containers: [{ name: 'c', image: 'registry.example/none:1', ports: [{ name: 'https', containerPort: 8443 }] }] },
  } });
  await new Promise((r) => setTimeout(r, 3_000));
  const impostor = await rest.request<V1Pod>('GET', `/api/v1/namespaces/${NS}/pods/${POOL}-impostor`);
  t.is(impostor.metadata?.labels?.[LABEL_REPLICA_ATTESTED], undefined);
  t.deepEqual(await endpointPods(), names);
});
