// The cached shapes (operator/src/kube/cached-shape.ts) keep every field a reader of the caches uses: each
// reader is run on an object as the apiserver sends it and on the same object as the cache keeps it, and
// must give the same answer. Objects are shaped as the real ones (dev/heap/wire-objects.ts: a kwok Node, a
// replica Pod from the pod builder with kwok's status, the fleet's ProviderNode), varied where a reader
// looks. Trimming a field a reader needs makes one of these comparisons fail.
import test from 'ava';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy, ProviderNode } from '../../operator/src/api/index.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import { modelCheckOf } from '../../operator/src/controllers/inferencepool/model-verified.js';
import { observePod } from '../../operator/src/controllers/inferencepool/reconciler.js';
import { ProviderNodeReconciler, replicasAmong } from '../../operator/src/controllers/providernode/reconciler.js';
import { cachedShapeOf, slimNode, slimPod, slimProviderNode } from '../../operator/src/kube/cached-shape.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { EventRecorder } from '../../operator/src/kube/events.js';
import { nodeNameOf, poolOf } from '../../operator/src/kube/indexes.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';
import { Nodes, objectKey, Pods, type KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';
import { FIELD_MANAGER, LABEL_POOL, LABEL_REPLICA_ATTESTED, LABEL_TEMPLATE_HASH, READINESS_GATE_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { podGpus } from '../../operator/src/placement/index.js';
import { authorizeReplicaPod } from '../../operator/src/attestation/service/caller-identity.js';
import { controllerRefToClaimedPool, whyNotAReplica } from '../../operator/src/attestation/service/replica-owner.js';
import { podGpuCount } from '../../operator/src/attestation/service/replica-topology.js';
import { kwokNodeJson, nodeName, providerNodeJson, replicaPodJson } from '../../dev/heap/wire-objects.js';

const GPU = DEFAULT_CONFIG.gpuResourceName;
// Loosely typed: the variants below reach into whatever part of the object a reader looks at.
type Obj = KubeObject & Record<string, any>;

const wirePod = (r: number, withCa = false): Obj => JSON.parse(replicaPodJson(r, { withCa }));
const wireNode = (i: number): Obj => JSON.parse(kwokNodeJson(i));
const wireProviderNode = (i: number): Obj => JSON.parse(providerNodeJson(i));

/** Replica Pods varied where the readers look. */
function replicaVariants(): Array<[string, Obj]> {
  const variants: Array<[string, Obj]> = [['running, attested, with the CA annotation', wirePod(13, true)], ['a 2-GPU replica', wirePod(3 * 8 + 1)]];
  const deleting = wirePod(2);
  deleting.metadata!.deletionTimestamp = '2026-12-04T10:05:00Z' as never;
  variants.push(['being deleted', deleting]);
  const failed = wirePod(4);
  failed.status.phase = 'Failed';
  variants.push(['failed', failed]);
  const gateFalse = wirePod(5);
  Object.assign(gateFalse.status.conditions.find((c: { type: string }) => c.type === READINESS_GATE_ATTESTED), { status: 'False', reason: 'EvidenceRejected', lastTransitionTime: '2026-12-04T10:03:00Z' });
  gateFalse.status.conditions.find((c: { type: string }) => c.type === 'Ready').status = 'False';
  variants.push(['gate False, not Ready', gateFalse]);
  const mismatch = wirePod(6);
  const check = mismatch.status.initContainerStatuses[0];
  check.lastState = { terminated: { exitCode: 3, reason: 'Error', message: 'model hash mismatch: expected ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6, computed 0000000000000000000000000000000000000000000000000000000000000000', finishedAt: '2026-12-04T10:00:05Z' } };
  check.state = { waiting: { reason: 'CrashLoopBackOff' } };
  variants.push(['model check failed last time', mismatch]);
  const labelled = wirePod(7);
  labelled.metadata!.labels![LABEL_REPLICA_ATTESTED] = 'true';
  labelled.metadata!.labels!['app.kubernetes.io/name'] = 'llama';
  variants.push(['routing-labelled, with a label of someone else', labelled]);
  const foreign = wirePod(8);
  foreign.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'pool-1', uid: 'rs-1', controller: true }];
  variants.push(['controlled by someone else', foreign]);
  const ownAccount = wirePod(9);
  ownAccount.spec.serviceAccountName = 'llama-replica';
  variants.push(['running as its own ServiceAccount', ownAccount]);
  return variants;
}

test('a cached replica Pod is read as the whole Pod is: observePod, replicasAmong, GPUs, indexes, gate flip, routing label', (t) => {
  for (const [what, whole] of replicaVariants()) {
    const cached = slimPod(structuredClone(whole));
    const expires = new Date('2026-12-04T11:00:00Z');
    const hash = whole.metadata!.labels![LABEL_TEMPLATE_HASH];
    for (const [terminating, assumed, expected] of [[false, undefined, 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6'], [true, 'other-node', undefined]] as const) {
      t.deepEqual(observePod(cached, 1, terminating, assumed, GPU, expires, expected), observePod(whole, 1, terminating, assumed, GPU, expires, expected), `observePod: ${what}`);
    }
    t.deepEqual(replicasAmong([cached as V1Pod], GPU), replicasAmong([whole as V1Pod], GPU), `replicasAmong: ${what}`);
    t.is(podGpus(cached, GPU), podGpus(whole, GPU), `GPUs: ${what}`);
    t.is(nodeNameOf(cached), nodeNameOf(whole), `node index: ${what}`);
    t.is(poolOf(cached), poolOf(whole), `pool index: ${what}`);
    // The gate flip sends back the conditions it read, whole.
    t.deepEqual(cached.status?.conditions, whole.status.conditions, `conditions: ${what}`);
    t.deepEqual(modelCheckOf(cached.status?.initContainerStatuses, hash), modelCheckOf(whole.status.initContainerStatuses, hash), `model check: ${what}`);
    t.is(cached.metadata?.labels?.[LABEL_REPLICA_ATTESTED], whole.metadata!.labels![LABEL_REPLICA_ATTESTED], `routing label: ${what}`);
    t.is(cached.metadata?.resourceVersion, whole.metadata!.resourceVersion, `resourceVersion (the gate flip's precondition): ${what}`);
    // The attestation service and metering (attestation/service/replica-reads.ts) take a cached replica
    // when it has the caller's uid: who may speak for it, which pool controls it, how many GPUs it proves.
    for (const account of [whole.spec.serviceAccountName ?? 'default', 'someone-else']) {
      const caller = { username: 'u', namespace: whole.metadata!.namespace!, serviceAccount: account, podName: whole.metadata!.name!, podUid: whole.metadata!.uid! };
      const outcome = (pod: unknown) => { try { authorizeReplicaPod(caller, pod as V1Pod); return 'allowed'; } catch (err) { return (err as Error).message; } };
      t.is(outcome(cached), outcome(whole), `caller ${account}: ${what}`);
    }
    const pool = { metadata: { name: whole.metadata!.labels![LABEL_POOL], namespace: whole.metadata!.namespace, uid: controllerRefToClaimedPool(whole)?.uid ?? 'none' } };
    t.is(whyNotAReplica(cached, pool), whyNotAReplica(whole, pool), `replica of its pool: ${what}`);
    t.is(podGpuCount(cached as V1Pod, GPU), podGpuCount(whole as V1Pod, GPU), `GPUs proven: ${what}`);
  }
});

test('a cached Pod of another workload still counts its GPUs: containers that request nothing are dropped, the order of the rest kept', (t) => {
  const gpus = (n: number) => ({ limits: { [GPU]: String(n) }, requests: { cpu: '1', [GPU]: String(n) } });
  const shapes = [
    { containers: [{ name: 'a', resources: gpus(1) }, { name: 'b' }], initContainers: [{ name: 'i1', restartPolicy: 'Always' }, { name: 'i2', resources: gpus(4) }, { name: 's', restartPolicy: 'Always', resources: gpus(1) }] },
    { containers: [{ name: 'a' }], initContainers: [{ name: 's', restartPolicy: 'Always', resources: gpus(2) }, { name: 'i', resources: { requests: { [GPU]: '3' } } }] },
    { containers: [{ name: 'a', resources: {} }, { name: 'b', resources: { requests: { cpu: '1' } } }] },
  ];
  for (const spec of shapes) {
    const whole = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'w', namespace: 'other', uid: 'u' }, spec: { nodeName: 'n', ...spec }, status: { phase: 'Running' } } as KubeObject;
    t.is(podGpus(slimPod(structuredClone(whole)), GPU), podGpus(whole, GPU), JSON.stringify(spec));
  }
});

test('a cached Pod drops what no reader reads', (t) => {
  const cached = slimPod(wirePod(13, true));
  t.deepEqual(Object.keys(cached.metadata ?? {}).sort(), ['labels', 'name', 'namespace', 'ownerReferences', 'resourceVersion', 'uid']);
  t.deepEqual(Object.keys(cached.spec as object).sort(), ['containers', 'nodeName', 'serviceAccountName']);
  t.deepEqual(Object.keys(cached.status as object).sort(), ['conditions', 'initContainerStatuses', 'phase']);
});

const T = new Date('2026-12-04T10:30:00Z');
const POLICY = { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: DEFAULT_CONFIG.defaultPolicyName }, spec: {} } as unknown as AttestationPolicy & KubeObject;

/** A ProviderNode whose evidence passed (8 GPUs), and which may already be quarantined. */
function attestedProviderNode(i: number, quarantined = false): ProviderNode & KubeObject {
  const pn = wireProviderNode(i);
  pn.status.attestation = { verifiedAt: '2026-12-04T10:20:00Z', expiresAt: '2026-12-04T11:20:00Z', gpus: Array.from({ length: 8 }, (_, index) => ({ index })) };
  if (quarantined) {
    pn.status.conditions = pn.status.conditions.map((c: { type: string }) => (c.type === 'Quarantined' ? { ...c, status: 'True', reason: 'GpuStateChanged' } : c));
  }
  return pn as ProviderNode & KubeObject;
}

/** Nodes varied where the ProviderNode controller and the FleetView look, with the ProviderNode each goes with. */
function nodeVariants(): Array<[string, Obj, ProviderNode & KubeObject]> {
  const out: Array<[string, Obj, ProviderNode & KubeObject]> = [];
  out.push(['attested, every mark in place', wireNode(1), attestedProviderNode(1)]);
  const tainted = wireNode(2);
  tainted.spec.taints = [{ key: 'example.com/maintenance', value: 'soon', effect: 'PreferNoSchedule', timeAdded: '2026-12-04T09:00:00Z' }, { key: TAINT_UNATTESTED, value: 'true', effect: 'NoSchedule' }];
  out.push(['attested, still tainted, with a taint of someone else', tainted, attestedProviderNode(2)]);
  const notReady = wireNode(3);
  Object.assign(notReady.status.conditions.find((c: { type: string }) => c.type === 'Ready'), { status: 'False', reason: 'KubeletNotReady' });
  out.push(['not Ready', notReady, attestedProviderNode(3)]);
  const cordonedByUs = wireNode(4);
  cordonedByUs.spec.unschedulable = true;
  cordonedByUs.metadata!.managedFields!.find((f: { manager?: string }) => f.manager === FIELD_MANAGER)!.fieldsV1 = { 'f:spec': { 'f:unschedulable': {} } };
  out.push(['cordoned by the operator, quarantined', cordonedByUs, attestedProviderNode(4, true)]);
  const cordonedByOthers = wireNode(5);
  cordonedByOthers.spec.unschedulable = true;
  out.push(['cordoned by someone else', cordonedByOthers, attestedProviderNode(5)]);
  const fewerGpus = wireNode(6);
  fewerGpus.status.allocatable[GPU] = '7';
  out.push(['advertising fewer GPUs than declared', fewerGpus, attestedProviderNode(6)]);
  const unlabelled = wireNode(7);
  delete unlabelled.metadata!.labels!['chrysalis.dev/attested'];
  out.push(['without the attested label', unlabelled, attestedProviderNode(7)]);
  return out;
}

/** What one ProviderNode reconcile writes (status, Node apply, evictions, events), with `node` cached as given. */
async function providerNodeWrites(node: Obj, pn: ProviderNode & KubeObject): Promise<unknown[]> {
  const writes: unknown[] = [];
  const client = {
    applyStatus: async (_r: unknown, obj: KubeObject, options: unknown) => { writes.push(['status', obj, options]); return obj; },
    apply: async (r: { plural: string }, obj: KubeObject, options: unknown) => { writes.push(['apply', r.plural, obj, options]); return obj; },
    delete: async (r: { plural: string }, ...args: unknown[]) => { writes.push(['delete', r.plural, ...args]); },
  } as unknown as KubeClient;
  const events = { record: async (_o: unknown, e: unknown) => { writes.push(['event', e]); return true; } } as unknown as EventRecorder;
  const nodes = new Store<V1Node & KubeObject>();
  nodes.put(node as V1Node & KubeObject);
  const providerNodes = new Store<ProviderNode & KubeObject>();
  providerNodes.put(pn);
  const pods = new Store<V1Pod & KubeObject>();
  const policies = new Store<AttestationPolicy & KubeObject>();
  policies.put(POLICY);
  const reconciler = new ProviderNodeReconciler({ client, events, config: DEFAULT_CONFIG, now: () => T, nodes, providerNodes, pods, policies });
  const result = await reconciler.reconcile(objectKey('ProviderNode', undefined, pn.metadata.name!), { log: { info: () => {} } } as never);
  writes.push(['result', result]);
  return writes;
}

test('a cached Node is read as the whole Node is: the ProviderNode controller plans and writes the same', async (t) => {
  for (const [what, whole, pn] of nodeVariants()) {
    const cached = slimNode(structuredClone(whole));
    t.deepEqual(await providerNodeWrites(cached, structuredClone(pn)), await providerNodeWrites(whole, structuredClone(pn)), what);
  }
});

test('a cached Node, ProviderNode and Pods give the FleetView the same capacity, health and attestation expiry', (t) => {
  for (const [what, whole, pn] of nodeVariants()) {
    const name = whole.metadata!.name!;
    const replica = wirePod(0);
    (replica.spec as { nodeName: string }).nodeName = name;
    const view = (shape: boolean) => {
      // At T, while the ProviderNodes' attestations hold: the expiry is among what the view reads.
      const v = new FleetView({ gpuResourceName: GPU, now: () => T });
      const store = <T extends KubeObject>(resource: typeof Pods) => new Store<T>(shape ? { transform: cachedShapeOf<T>(resource) } : {});
      const providerNodes = store<ProviderNode & KubeObject>(ProviderNodes);
      const nodes = store<KubeObject>(Nodes);
      const pods = store<KubeObject>(Pods);
      v.attach(providerNodes, nodes, pods);
      const withReplica = structuredClone(pn);
      withReplica.status!.attestedReplicas = [{ namespace: replica.metadata!.namespace!, pod: replica.metadata!.name!, uid: replica.metadata!.uid!, publicKey: 'ab'.repeat(32), expiresAt: '2026-12-04T11:00:00Z' }];
      nodes.put(structuredClone(whole));
      providerNodes.put(withReplica);
      pods.put(structuredClone(replica));
      return { node: v.index.node(name), health: v.nodeHealth(name), expiry: v.attestationExpiry(pods.list()[0]!), topology: v.topologyOf(name), replicas: v.replicaPods('bench-ours-1/pool-0').length };
    };
    t.deepEqual(view(true), view(false), what);
  }
});

test('a cached Node keeps the operator\'s managedFields entries, labels, taints, allocatable and condition statuses only', (t) => {
  const cached = slimNode(wireNode(1));
  t.deepEqual(Object.keys(cached.metadata ?? {}).sort(), ['labels', 'managedFields', 'name', 'resourceVersion', 'uid']);
  t.deepEqual(cached.metadata?.managedFields?.map((f) => f.manager), [FIELD_MANAGER]);
  t.true(Object.keys(cached.metadata?.labels ?? {}).every((k) => k.startsWith('chrysalis.dev/')));
  t.deepEqual(cached.status, { allocatable: wireNode(1).status.allocatable, conditions: wireNode(1).status.conditions.map((c: { type: string; status: string }) => ({ type: c.type, status: c.status })) });
});

test('a cached ProviderNode is whole but for managedFields', (t) => {
  const whole = wireProviderNode(3);
  const cached = slimProviderNode(structuredClone(whole));
  const { managedFields: _dropped, ...metadata } = whole.metadata!;
  t.deepEqual(cached, { ...whole, metadata });
  t.is(nodeName(3), cached.spec.nodeName);
});
