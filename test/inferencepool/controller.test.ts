// The InferencePool controller against the real local control plane (kwok plays the GPU nodes): it
// places replicas only on attested nodes and binds them itself, counts them, replaces replicas of a
// quarantined node, scales, and leaves cleanup of a deleted pool to the garbage collector.
import test, { type ExecutionContext } from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import { InferencePools } from '../../operator/src/kube/chrysalis-resources.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { LABEL_REPLICA, READINESS_GATE_ATTESTED, REPORTING_CONTROLLER } from '../../operator/src/marks.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import {
  adminClient, createGpuFleet, createPool, eventually, getPool, isTerminating, nodeOf, poolObject, poolPods,
  setProviderConditions, startController, TEST_CONFIG, uniqueSuffix, type GpuFleet,
} from './kube-fixtures.js';

test.before(async () => {
  const cluster = await testCluster();
  await installCrds(cluster.kubeConfig());
});

interface Setup {
  namespace: string;
  model: string;
  fleet: GpuFleet;
  client: ReturnType<typeof adminClient>;
}

/** A namespace, `count` kwok GPU nodes (a model of their own) and the controller watching the namespace. */
async function setup(t: ExecutionContext, count: number, attested: (i: number) => boolean, prefix: string): Promise<Setup> {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const namespace = await useNamespace(t, prefix);
  const suffix = uniqueSuffix();
  const model = `T${suffix}`;
  const fleet = await createGpuFleet(kc, { prefix: `ip-${prefix}-${suffix}`, count, gpuModel: model, providers: 5, attested });
  const controller = startController(kc, { namespace, gateGraceMs: 1000 });
  const client = adminClient(kc);
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    client.rest.close();
  });
  return { namespace, model, fleet, client };
}

const live = (pods: KubeObject[]) => pods.filter((p) => !isTerminating(p));

test('a pool of 8 on 50 nodes is placed on attested nodes only, bound by the operator, and counted', async (t) => {
  // Every other node is not attested: none of the replicas may land there.
  const attested = (i: number) => i % 2 === 0;
  const { namespace, model, fleet, client } = await setup(t, 50, attested, 'place');
  const attestedNodes = new Set(fleet.names.filter((_, i) => attested(i)));
  await createPool(client, poolObject('llama', namespace, 8, model));

  const pods = await eventually('8 bound replicas', async () => {
    const all = live(await poolPods(client, namespace, 'llama'));
    return all.length === 8 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  t.deepEqual(pods.map((p) => p.metadata?.name).sort(), Array.from({ length: 8 }, (_, i) => `llama-${i}`).sort());
  for (const pod of pods) {
    t.true(attestedNodes.has(nodeOf(pod) as string), `${pod.metadata?.name} on ${nodeOf(pod)}`);
    t.is((pod.spec as { schedulerName: string }).schedulerName, 'chrysalis');
  }
  // Spread: 8 replicas over 5 providers use all 5.
  const pool = await eventually('status shows 8 placed', async () => {
    const p = await getPool(client, namespace, 'llama');
    return p?.status?.replicas?.placed === 8 ? p : undefined;
  });
  t.is(pool.status?.replicas?.desired, 8);
  t.is(pool.status?.placements?.length, 8);
  t.is(new Set(pool.status?.placements?.map((p) => p.provider)).size, 5);
  for (const p of pool.status?.placements ?? []) t.true(attestedNodes.has(p.node));

  // Where each replica went is told on the pool, once per reconcile; no Event per Pod (a second write per
  // replica, as kube-scheduler's Scheduled Event is).
  type EventItem = { reason?: string; note?: string; reportingController?: string; regarding?: { kind?: string; name?: string } };
  const events = await eventually('the pool says where its 8 replicas went', async () => {
    const list = await client.rest.request<{ items: EventItem[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
    const notes = list.items.filter((e) => e.regarding?.kind === 'InferencePool' && e.reason === 'ScaledUp').map((e) => e.note ?? '').join(' | ');
    return pods.every((p) => notes.includes(`${p.metadata?.name} on ${nodeOf(p)}`)) ? list.items : undefined;
  });
  t.deepEqual(events.filter((e) => e.reportingController === REPORTING_CONTROLLER && e.regarding?.kind === 'Pod').map((e) => `${e.reason} ${e.regarding?.name}`), []);

  // kwok's simulated kubelet turns every readiness gate True by itself, without an attestation verdict;
  // the controller must not count that, and turns the gate back to False.
  const after = await eventually('kwok gates turned False, none counted attested', async () => {
    const p = await getPool(client, namespace, 'llama');
    const unattested = p?.status?.conditions?.find((c) => c.type === 'Degraded')?.reason === 'ReplicasUnattested';
    return p?.status?.replicas?.attested === 0 && unattested ? p : undefined;
  });
  t.is(after.status?.replicas?.ready, 0);

  // The attestation service's verdict for one replica: its key and expiry in the host's ProviderNode
  // status (ProviderNodes are named after their Node here), then the gate True.
  const expires = new Date(Date.now() + 3_600_000).toISOString();
  const verdictPod = await client.get<KubeObject>(Pods, 'llama-3', namespace) as KubeObject;
  await client.rest.request('PATCH', resourcePath(ProviderNodes, undefined, nodeOf(verdictPod) as string, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestedReplicas: [{ namespace, pod: 'llama-3', uid: verdictPod.metadata?.uid, publicKey: 'ab'.repeat(32), expiresAt: expires }] } },
  });
  await client.rest.request('PATCH', resourcePath(Pods, namespace, 'llama-3', 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status: 'True', reason: 'EvidenceVerified', message: 'test verdict' }] } },
  });
  const counted = await eventually('one replica attested and ready', async () => {
    const p = await getPool(client, namespace, 'llama');
    return p?.status?.replicas?.attested === 1 ? p : undefined;
  });
  t.deepEqual(counted.status?.replicas, { desired: 8, placed: 8, attested: 1, ready: 1 });
  t.is(counted.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
});

test('a replica Pod that already exists unbound is bound through the Binding subresource, keeping its uid; new ones are created bound', async (t) => {
  // What an earlier version of the operator (create, then bind) leaves behind if it stopped in between.
  // The controller starts only once that Pod exists, so it cannot create replica 0 itself first.
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const namespace = await useNamespace(t, 'unbound');
  const suffix = uniqueSuffix();
  const model = `U${suffix}`;
  const fleet = await createGpuFleet(kc, { prefix: `ip-unbound-${suffix}`, count: 6, gpuModel: model, providers: 3, attested: (i) => i < 3 });
  const client = adminClient(kc);
  const pool = await createPool(client, poolObject('old', namespace, 3, model));
  const leftover = await client.create<KubeObject>(Pods, buildReplicaPod({ pool, index: 0, tee: 'sev-snp', config: TEST_CONFIG }));
  t.is(nodeOf(leftover), undefined);
  const controller = startController(kc, { namespace });
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    client.rest.close();
  });

  const pods = await eventually('3 bound replicas', async () => {
    const all = live(await poolPods(client, namespace, 'old'));
    return all.length === 3 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  const attestedNodes = fleet.names.slice(0, 3);
  const scheduled = (p: KubeObject) => ((p.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [])
    .find((c) => c.type === 'PodScheduled');
  for (const pod of pods) t.true(attestedNodes.includes(nodeOf(pod) as string), `${pod.metadata?.name} on ${nodeOf(pod)}`);
  // The same Pod, not a replacement: its uid is unchanged, and spec.nodeName of an existing Pod can only
  // be set by a Binding — which also records PodScheduled=True (a Pod created bound has no such condition
  // until its kubelet reports one, and kwok's does not).
  const old = pods.find((p) => p.metadata?.name === 'old-0') as KubeObject;
  t.is(old.metadata?.uid, leftover.metadata?.uid);
  t.is(scheduled(old)?.status, 'True');
  for (const pod of pods.filter((p) => p.metadata?.name !== 'old-0')) t.is(scheduled(pod), undefined, `${pod.metadata?.name} was created bound`);
});

test('a pool larger than the attested capacity is Degraded with InsufficientAttestedCapacity, and recovers when a node is attested', async (t) => {
  // 3 attested 8-GPU nodes; 4 replicas of 8 GPUs need 4.
  const { namespace, model, fleet, client } = await setup(t, 4, (i) => i < 3, 'short');
  await createPool(client, poolObject('big', namespace, 4, model, { gpusPerReplica: 8 }));
  const degraded = await eventually('Degraded InsufficientAttestedCapacity', async () => {
    const p = await getPool(client, namespace, 'big');
    const c = p?.status?.conditions?.find((x) => x.type === 'Degraded');
    return c?.status === 'True' && c.reason === 'InsufficientAttestedCapacity' ? c : undefined;
  });
  t.regex(degraded.message, /1 of 4 replicas unplaced/);
  t.is(live(await poolPods(client, namespace, 'big')).length, 3);

  await setProviderConditions(client, fleet.names[3] as string, { attested: true, quarantined: false });
  const pool = await eventually('4 placed after the fourth node is attested', async () => {
    const p = await getPool(client, namespace, 'big');
    return p?.status?.replicas?.placed === 4 ? p : undefined;
  });
  t.not(pool.status?.conditions?.find((x) => x.type === 'Degraded')?.reason, 'InsufficientAttestedCapacity');
});

test('quarantining a node moves its replicas to other attested nodes', async (t) => {
  const { namespace, model, fleet, client } = await setup(t, 10, () => true, 'quar');
  await createPool(client, poolObject('q', namespace, 8, model, { gpusPerReplica: 4 }));
  const before = await eventually('8 bound', async () => {
    const all = live(await poolPods(client, namespace, 'q'));
    return all.length === 8 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  const victim = nodeOf(before[0] as KubeObject) as string;
  const onVictim = before.filter((p) => nodeOf(p) === victim).map((p) => p.metadata?.name as string);
  t.true(onVictim.length >= 1);

  // What the ProviderNode controller does on quarantine: the condition, then evicting the replicas.
  await setProviderConditions(client, victim, { attested: true, quarantined: true });
  for (const name of onVictim) await client.delete(Pods, name, namespace);

  const after = await eventually('8 bound replicas, none on the quarantined node', async () => {
    const all = live(await poolPods(client, namespace, 'q'));
    return all.length === 8 && all.every((p) => nodeOf(p) && nodeOf(p) !== victim) ? all : undefined;
  }, 60_000, async () => JSON.stringify(live(await poolPods(client, namespace, 'q')).map((p) => [p.metadata?.name, nodeOf(p)])));
  t.true(after.every((p) => fleet.names.includes(nodeOf(p) as string)));
  // Each index at most once.
  const indexes = after.map((p) => p.metadata?.labels?.[LABEL_REPLICA]);
  t.is(new Set(indexes).size, 8);
});

test('scaling down removes the highest indexes and scaling up fills the lowest free ones', async (t) => {
  const { namespace, model, client } = await setup(t, 6, () => true, 'scale');
  await createPool(client, poolObject('s', namespace, 6, model));
  await eventually('6 bound', async () => {
    const all = live(await poolPods(client, namespace, 's'));
    return all.length === 6 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  // Wait until kwok's gates have been turned False, so every replica is equally (un)useful.
  await eventually('all gates decided', async () => {
    const p = await getPool(client, namespace, 's');
    return p?.status?.conditions?.find((c) => c.type === 'Degraded')?.reason === 'ReplicasUnattested' ? p : undefined;
  });

  const patchReplicas = (n: number) => client.rest.request('PATCH', resourcePath(InferencePools, namespace, 's'), {
    contentType: 'application/merge-patch+json', body: { spec: { replicas: { min: n, max: n } } },
  });
  await patchReplicas(3);
  const down = await eventually('3 live replicas', async () => {
    const all = live(await poolPods(client, namespace, 's'));
    return all.length === 3 ? all : undefined;
  });
  t.deepEqual(down.map((p) => p.metadata?.name).sort(), ['s-0', 's-1', 's-2']);

  await patchReplicas(5);
  const up = await eventually('5 live bound replicas', async () => {
    const all = live(await poolPods(client, namespace, 's'));
    return all.length === 5 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  // Indexes 3 and 4 may still be terminating from the scale-down; then the new replicas take 5 and 6.
  const names = up.map((p) => p.metadata?.name as string);
  t.true(['s-0', 's-1', 's-2'].every((n) => names.includes(n)));
  t.is(new Set(names).size, 5);
  const pool = await eventually('status desired 5', async () => {
    const p = await getPool(client, namespace, 's');
    return p?.status?.replicas?.placed === 5 ? p : undefined;
  });
  t.is(pool.status?.replicas?.desired, 5);
});

test('deleting a pool lets the garbage collector remove its replicas', async (t) => {
  const { namespace, model, client } = await setup(t, 4, () => true, 'gc');
  await createPool(client, poolObject('g', namespace, 4, model));
  const pods = await eventually('4 bound', async () => {
    const all = live(await poolPods(client, namespace, 'g'));
    return all.length === 4 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  for (const pod of pods) {
    const owner = pod.metadata?.ownerReferences?.[0];
    t.like(owner, { kind: 'InferencePool', name: 'g', controller: true, blockOwnerDeletion: true });
  }
  await client.delete(InferencePools, 'g', namespace, { propagationPolicy: 'Background' });
  await eventually('replicas deleted by the garbage collector', async () => {
    const all = live(await poolPods(client, namespace, 'g'));
    return all.length === 0 ? true : undefined;
  }, 90_000);
  t.pass();
});
