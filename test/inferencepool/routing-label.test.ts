// Routing only to attested replicas, against the real local control plane (kwok plays the GPU nodes and
// their kubelets): the pool's Service selects its replicas by the chrysalis.dev/attested label, which the
// controller sets after a verdict and removes — before it turns the gate False — when the attestation
// lapses, and sets again only after a new verdict. A watch on the replica Pod records every version, so
// the order of the two writes is read from the apiserver, not from timing.
import test, { type ExecutionContext } from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import type { InferencePool, ProviderNode } from '../../operator/src/api/index.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { InferencePoolReconciler } from '../../operator/src/controllers/inferencepool/reconciler.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { EventRecorder } from '../../operator/src/kube/events.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { objectKey, Pods, resourcePath, Services, type KubeObject, type ResourceType } from '../../operator/src/kube/resource.js';
import { LABEL_POOL, LABEL_REPLICA_ATTESTED, READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import { silentLogger } from '../../operator/src/util/log.js';
import {
  adminClient, createGpuFleet, createPool, eventually, getPool, handFilledCaches, nodeOf, poolObject, startController, TEST_CONFIG, uniqueSuffix,
} from './kube-fixtures.js';

const EndpointSlices: ResourceType = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true };
const ServiceAccounts: ResourceType = { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true };

interface Condition { type: string; status: string; reason?: string }
const gateOf = (pod: KubeObject | undefined) => ((pod?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === READINESS_GATE_ATTESTED);
const labelOf = (pod: KubeObject | undefined) => pod?.metadata?.labels?.[LABEL_REPLICA_ATTESTED];
const seconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  await installCrds((await testCluster()).kubeConfig());
});

/** What the attestation service writes for a passing verdict: the key and expiry on the host, then the gate. */
async function verdict(client: KubeClient, namespace: string, pod: KubeObject, expires: Date): Promise<void> {
  await client.rest.request('PATCH', resourcePath(ProviderNodes, undefined, nodeOf(pod) as string, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestedReplicas: [{ namespace, pod: pod.metadata?.name, uid: pod.metadata?.uid, publicKey: 'cd'.repeat(32), expiresAt: expires.toISOString() }] } },
  });
  await client.rest.request('PATCH', resourcePath(Pods, namespace, pod.metadata?.name as string, 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status: 'True', reason: 'Verified', message: 'replica evidence verified', lastTransitionTime: seconds(new Date()) }] } },
  });
}

/** The endpoints of the pool's Service, by Pod name. */
async function endpointPods(client: KubeClient, namespace: string, service: string): Promise<string[]> {
  const slices = await client.list<KubeObject & { endpoints?: Array<{ targetRef?: { name?: string } }> }>(EndpointSlices, { namespace, labelSelector: `kubernetes.io/service-name=${service}` });
  return slices.items.flatMap((s) => s.endpoints ?? []).map((e) => e.targetRef?.name ?? '').sort();
}

test('a lapsing replica loses the routing label before its gate turns False, leaves the Service\'s endpoints, and is labelled again only after a fresh verdict', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  const namespace = await useNamespace(t, 'route');
  const suffix = uniqueSuffix();
  const model = `L${suffix}`;
  const fleet = await createGpuFleet(kc, { prefix: `ip-route-${suffix}`, count: 2, gpuModel: model, providers: 2 });
  // No lead time: the label removal and the gate flip fall due in the same reconcile, so the order is the
  // reconciler's, not the clock's.
  const controller = startController(kc, { namespace, gateGraceMs: 1000, labelLeadMs: 0 });
  const client = adminClient(kc);
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    client.rest.close();
  });
  await createPool(client, poolObject('chat', namespace, 1, model));

  // kwok's kubelet turns the gate True with no verdict: never labelled; the controller turns it False.
  const placed = await eventually('the replica bound, its kwok gate turned False', async () => {
    const p = await client.get<KubeObject>(Pods, 'chat-0', namespace);
    return p && nodeOf(p) && gateOf(p)?.reason === 'AttestationMissing' ? p : undefined;
  });
  t.is(labelOf(placed), undefined);
  // No replica to route to: no Service yet (it would select nothing), and no endpoint in the status.
  t.is(await client.get(Services, 'chat', namespace), undefined, 'no Service before a replica is routable');
  t.is((await getPool(client, namespace, 'chat'))?.status?.endpoint, undefined);

  // A verdict valid for a few seconds: the label follows, then the Service (written once a replica is
  // routable), whose endpoints include the replica.
  await verdict(client, namespace, placed, new Date(Date.now() + 10_000));
  const labelled = await eventually('the routing label', async () => {
    const p = await client.get<KubeObject>(Pods, 'chat-0', namespace);
    return labelOf(p) === 'true' ? p : undefined;
  });
  // The Service, owned by the pool, selecting its attested replicas on their https port; the status says where.
  const svc = await eventually('the pool\'s Service', async () => client.get<KubeObject & { spec: Record<string, unknown> }>(Services, 'chat', namespace));
  t.deepEqual(svc.spec.selector, { [LABEL_POOL]: 'chat', [LABEL_REPLICA_ATTESTED]: 'true' });
  t.like((svc.spec.ports as unknown[])[0], { port: 443, targetPort: 'https' });
  const pool = await getPool(client, namespace, 'chat') as InferencePool;
  t.is(svc.metadata?.ownerReferences?.[0]?.uid, pool.metadata.uid);
  await eventually('status.endpoint', async () => ((await getPool(client, namespace, 'chat'))?.status?.endpoint?.url === `https://chat.${namespace}.svc` ? true : undefined));
  await eventually('the replica among the Service\'s endpoints', async () => ((await endpointPods(client, namespace, 'chat')).includes('chat-0') ? true : undefined), 30_000);

  // Every version of the Pod from here on, in the apiserver's order.
  const versions: Array<{ label: string | undefined; gate: string | undefined; reason: string | undefined }> = [];
  const abort = new AbortController();
  const watching = client.rest.watch(resourcePath(Pods, namespace), { fieldSelector: 'metadata.name=chat-0', resourceVersion: labelled.metadata?.resourceVersion }, (e) => {
    if (e.type !== 'MODIFIED') return;
    const pod = e.object as KubeObject;
    versions.push({ label: labelOf(pod), gate: gateOf(pod)?.status, reason: gateOf(pod)?.reason });
  }, abort.signal).catch(() => undefined);
  await eventually('the gate turned False at the expiry', async () => (versions.some((v) => v.gate === 'False') ? true : undefined), 30_000);
  abort.abort();
  await watching;

  const unlabelledAt = versions.findIndex((v) => v.label === undefined);
  const flippedAt = versions.findIndex((v) => v.gate === 'False');
  t.true(unlabelledAt >= 0 && unlabelledAt < flippedAt, `label removed before the gate flip: ${JSON.stringify(versions)}`);
  t.like(versions[unlabelledAt], { gate: 'True' }, 'the label went while the gate was still True');
  t.false(versions.some((v) => v.gate === 'False' && v.label !== undefined), 'never a False gate with the label');
  t.is(versions[flippedAt]?.reason, 'AttestationExpired');
  await eventually('the replica gone from the Service\'s endpoints', async () => (!(await endpointPods(client, namespace, 'chat')).includes('chat-0') ? true : undefined), 30_000);

  // No verdict, no label: the reconciles after the flip leave it off.
  await sleep(2_000);
  const lapsed = await client.get<KubeObject>(Pods, 'chat-0', namespace) as KubeObject;
  t.is(labelOf(lapsed), undefined);
  // A fresh verdict brings it back.
  await verdict(client, namespace, lapsed, new Date(Date.now() + 3_600_000));
  await eventually('the routing label after the fresh verdict', async () => (labelOf(await client.get<KubeObject>(Pods, 'chat-0', namespace)) === 'true' ? true : undefined));
});

/**
 * One replica Pod, bound to a node no Node object backs (nothing runs it), of a one-replica pool made for
 * the case: what the two hand-filled-cache cases below start from.
 */
async function replicaOfOwnPool(t: ExecutionContext, prefix: string, poolName: string) {
  const kc = (await testCluster()).kubeConfig();
  const namespace = await useNamespace(t, prefix);
  const client = adminClient(kc);
  t.teardown(() => client.rest.close());
  await eventually('the default ServiceAccount', async () => client.get(ServiceAccounts, 'default', namespace));
  const node = `${prefix}-${uniqueSuffix()}`;
  await createPool(client, poolObject(poolName, namespace, 1, `${poolName.toUpperCase()}${uniqueSuffix()}`));
  const pool = await getPool(client, namespace, poolName) as InferencePool;
  const pod = await client.create<KubeObject>(Pods, buildReplicaPod({ pool, index: 0, tee: 'sev-snp', node, config: TEST_CONFIG }));
  const podName = `${poolName}-0`;
  const setGate = (status: string, reason: string, since = new Date()) => client.rest.request<KubeObject>('PATCH', resourcePath(Pods, namespace, podName, 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status, reason, message: reason, lastTransitionTime: seconds(since) }] } },
  });
  /**
   * A reconciler of the pool over caches that hold `cachedPod` as the Pod's copy and its host's
   * ProviderNode with the replica's key expiring at `expiresAt`.
   */
  const reconcileFrom = (cachedPod: KubeObject, expiresAt: Date) => {
    const { view, pools } = handFilledCaches({
      nodes: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: node } }],
      providerNodes: [{
        apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: node },
        spec: { nodeName: node } as ProviderNode['spec'],
        status: { attestedReplicas: [{ namespace, pod: podName, uid: pod.metadata?.uid as string, publicKey: 'ef'.repeat(32), expiresAt: expiresAt.toISOString() }] },
      } as ProviderNode & KubeObject],
      pods: [cachedPod],
      pools: [pool],
    });
    const events = { record: async () => true } as unknown as EventRecorder;
    return (c: KubeClient = client) => new InferencePoolReconciler({ client: c, events, view, pools, config: TEST_CONFIG, labelLeadMs: 0 })
      .reconcile(objectKey('InferencePool', namespace, poolName), { log: silentLogger(), signal: new AbortController().signal });
  };
  return { client, namespace, podName, setGate, reconcileFrom };
}

test('a gate flip waits while the routing label cannot be removed, and goes through once it is', async (t) => {
  // The reconciler runs against the real apiserver from caches the test fills, with a client that
  // refuses label removals first.
  const { client, namespace, setGate, reconcileFrom } = await replicaOfOwnPool(t, 'route-order', 'o');
  await client.patchMerge(Pods, 'o-0', namespace, { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: 'true' } } });
  const live = await setGate('True', 'Verified', new Date(Date.now() - 60_000));
  const reconcile = reconcileFrom(live, new Date(Date.now() - 1_000));

  class RefusesLabelRemoval extends KubeClient {
    override async patchMerge<T extends KubeObject>(...args: Parameters<KubeClient['patchMerge']>): Promise<T> {
      const body = args[3] as { metadata?: { labels?: Record<string, unknown> } };
      if (body.metadata?.labels?.[LABEL_REPLICA_ATTESTED] === null) throw new Error('injected: the label removal fails');
      return super.patchMerge<T>(...args);
    }
  }
  await t.throwsAsync(reconcile(new RefusesLabelRemoval(client.rest, NO_FENCE)), { message: /injected/ });
  const held = await client.get<KubeObject>(Pods, 'o-0', namespace);
  t.is(labelOf(held), 'true');
  t.like(gateOf(held), { status: 'True', reason: 'Verified' }, 'the gate stays while the label could not go');

  await reconcile();
  const after = await client.get<KubeObject>(Pods, 'o-0', namespace);
  t.is(labelOf(after), undefined);
  t.like(gateOf(after), { status: 'False', reason: 'AttestationExpired' });
});

test('the routing label is added on the gate the plan saw, whatever else changed on the Pod since, and not once a failed verdict turned the gate False', async (t) => {
  // The reconciler runs against the real apiserver from caches the test fills with the Pod as it was,
  // while the apiserver's Pod has moved on.
  const { client, namespace, setGate, reconcileFrom } = await replicaOfOwnPool(t, 'route-add', 'a');
  const seen = await setGate('True', 'Verified');
  const reconcile = reconcileFrom(seen, new Date(Date.now() + 3_600_000));

  // Another writer changes the Pod after the cache's copy (its resourceVersion moves on, the gate does not).
  await client.patchMerge(Pods, 'a-0', namespace, { metadata: { annotations: { 'example.com/other-writer': 'x' } } });
  await reconcile();
  t.is(labelOf(await client.get<KubeObject>(Pods, 'a-0', namespace)), 'true', 'labelled on the gate it saw, though the Pod changed since');

  // A failed verdict turns the gate False after the copy the plan is made from: no label.
  await client.patchMerge(Pods, 'a-0', namespace, { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: null } } });
  await setGate('False', 'VerificationFailed');
  await reconcile();
  const after = await client.get<KubeObject>(Pods, 'a-0', namespace);
  t.is(labelOf(after), undefined, 'never labelled with the gate False');
  t.like(gateOf(after), { status: 'False', reason: 'VerificationFailed' });
});
