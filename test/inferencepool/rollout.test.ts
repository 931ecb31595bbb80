// A change of the model a pool serves reaches its replicas, against the real local control plane (kwok
// plays the GPU nodes): after spec.model.hash changes, a replica built for the new spec is created
// beside the serving one (surge first), the old one stays until the new one is attested and ready, and
// only then goes; meanwhile the pool says it is updating, is not Ready on the new spec, and its
// ModelVerified speaks of the new replica's check only.
import test from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import { InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import {
  adminClient, createGpuFleet, createPool, eventually, getPool, isTerminating, nodeOf, poolObject, poolPods,
  startController, uniqueSuffix,
} from './kube-fixtures.js';

test.before(async () => {
  const cluster = await testCluster();
  await installCrds(cluster.kubeConfig());
});

const OLD_HASH = 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6';
const NEW_HASH = '0c9f4e1b7a2d3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6';

const live = (pods: KubeObject[]) => pods.filter((p) => !isTerminating(p));
const modelHashOf = (pod: KubeObject): string | undefined =>
  ((pod.spec as { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> }).containers
    .find((c) => c.name === 'server')?.env ?? []).find((e) => e.name === 'CHRYSALIS_MODEL_HASH')?.value;
const condition = (pool: Awaited<ReturnType<typeof getPool>>, type: string) => pool?.status?.conditions?.find((c) => c.type === type);

/**
 * What the attestation service does on a verdict: the key and its expiry on the host's ProviderNode
 * (appended: two replicas may share a host), then the Pod's gate True.
 */
function verdicts(client: ReturnType<typeof adminClient>, namespace: string): (podName: string) => Promise<void> {
  return async (podName) => {
    const pod = await client.get<KubeObject>(Pods, podName, namespace) as KubeObject;
    const node = nodeOf(pod) as string;
    const host = await client.get<KubeObject>(ProviderNodes, node) as KubeObject;
    const recorded = ((host.status as { attestedReplicas?: unknown[] } | undefined)?.attestedReplicas ?? []);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    await client.rest.request('PATCH', resourcePath(ProviderNodes, undefined, node, 'status'), {
      contentType: 'application/merge-patch+json',
      body: { status: { attestedReplicas: [...recorded, { namespace, pod: podName, uid: pod.metadata?.uid, publicKey: 'ab'.repeat(32), expiresAt }] } },
    });
    await client.rest.request('PATCH', resourcePath(Pods, namespace, podName, 'status'), {
      contentType: 'application/strategic-merge-patch+json',
      body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status: 'True', reason: 'EvidenceVerified', message: 'test verdict' }] } },
    });
  };
}

test('changing spec.model.hash replaces the replica surge first: the new one serves before the old one goes', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const namespace = await useNamespace(t, 'rollout');
  const suffix = uniqueSuffix();
  const model = `R${suffix}`;
  const fleet = await createGpuFleet(kc, { prefix: `ip-rollout-${suffix}`, count: 3, gpuModel: model, providers: 3 });
  const controller = startController(kc, { namespace, gateGraceMs: 1000 });
  const client = adminClient(kc);
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    client.rest.close();
  });

  const attest = verdicts(client, namespace);

  await createPool(client, poolObject('m', namespace, 1, model));
  const [first] = await eventually('one bound replica', async () => {
    const all = live(await poolPods(client, namespace, 'm'));
    return all.length === 1 && nodeOf(all[0] as KubeObject) ? all : undefined;
  });
  const oldName = first?.metadata?.name as string;
  const oldUid = first?.metadata?.uid as string;
  t.is(modelHashOf(first as KubeObject), OLD_HASH);
  await attest(oldName);
  await eventually('the replica attested and ready', async () => {
    const p = await getPool(client, namespace, 'm');
    return p?.status?.replicas?.ready === 1 && condition(p, 'Ready')?.status === 'True' ? p : undefined;
  });

  // The model changes.
  await client.rest.request('PATCH', resourcePath(InferencePools, namespace, 'm'), {
    contentType: 'application/merge-patch+json', body: { spec: { model: { hash: NEW_HASH } } },
  });

  // Surge first: a replica built for the new hash appears while the old one still serves.
  const describe = async () => JSON.stringify((await poolPods(client, namespace, 'm')).map((p) => [p.metadata?.name, nodeOf(p), isTerminating(p), modelHashOf(p)]));
  const surge = await eventually('a replica of the new model beside the old one', async () => {
    const all = live(await poolPods(client, namespace, 'm'));
    const fresh = all.find((p) => modelHashOf(p) === NEW_HASH && nodeOf(p));
    return fresh && all.some((p) => p.metadata?.uid === oldUid) ? fresh : undefined;
  }, 30_000, describe);
  const surgeName = surge.metadata?.name as string;
  t.not(surgeName, oldName);

  const updating = await eventually('the pool says it is updating', async () => {
    const p = await getPool(client, namespace, 'm');
    return condition(p, 'Progressing')?.reason === 'ModelChanged' ? p : undefined;
  }, 30_000, async () => JSON.stringify((await getPool(client, namespace, 'm'))?.status?.conditions));
  t.is(condition(updating, 'Progressing')?.status, 'True');
  // ModelVerified speaks of the new replica only (kwok may already report its model check as exited 0,
  // which a real check does only on the hash the Pod was built with): never of the old replica's check.
  t.true(condition(updating, 'ModelVerified')?.message.includes(NEW_HASH), condition(updating, 'ModelVerified')?.message);
  t.notRegex(condition(updating, 'ModelVerified')?.message ?? '', /of 2 replicas/);
  t.is(condition(updating, 'Ready')?.status, 'False', 'Ready speaks of the current spec: no replica of the new model is ready yet');
  t.is(updating.status?.replicas?.ready, 1, 'the old replica still serves');

  // The old replica stays while the new one is not attested (kwok's own gate is turned False meanwhile).
  await new Promise((r) => setTimeout(r, 3000));
  const stillThere = await client.get<KubeObject>(Pods, oldName, namespace);
  t.is(stillThere?.metadata?.uid, oldUid);
  t.false(isTerminating(stillThere as KubeObject), 'the old replica is not deleted before its replacement is ready');

  // The new replica's verdict: then, and only then, the old one goes.
  await attest(surgeName);
  const after = await eventually('only the new-model replica left', async () => {
    const all = live(await poolPods(client, namespace, 'm'));
    return all.length === 1 && all[0]?.metadata?.name === surgeName ? all : undefined;
  }, 30_000, describe);
  t.is(modelHashOf(after[0] as KubeObject), NEW_HASH);
  const settled = await eventually('the pool ready and stable on the new model', async () => {
    const p = await getPool(client, namespace, 'm');
    return condition(p, 'Ready')?.status === 'True' && condition(p, 'Progressing')?.reason === 'Stable' ? p : undefined;
  }, 30_000, async () => JSON.stringify((await getPool(client, namespace, 'm'))?.status?.conditions));
  t.deepEqual(settled.status?.replicas, { desired: 1, placed: 1, attested: 1, ready: 1 });
});

test('with no free GPUs for the surge replica, the old replica keeps serving and the status says why; a freed node lets the update through', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const namespace = await useNamespace(t, 'rollout-full');
  const suffix = uniqueSuffix();
  const model = `F${suffix}`;
  // One 8-GPU node and a pool of one 8-GPU replica: no room for a second replica anywhere.
  const fleet = await createGpuFleet(kc, { prefix: `ip-full-${suffix}`, count: 1, gpuModel: model, providers: 1 });
  const controller = startController(kc, { namespace, gateGraceMs: 1000 });
  const client = adminClient(kc);
  const more: Array<{ cleanup(): Promise<void> }> = [];
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    for (const f of more) await f.cleanup();
    client.rest.close();
  });
  const attest = verdicts(client, namespace);

  await createPool(client, poolObject('f', namespace, 1, model, { gpusPerReplica: 8 }));
  const [first] = await eventually('one bound replica', async () => {
    const all = live(await poolPods(client, namespace, 'f'));
    return all.length === 1 && nodeOf(all[0] as KubeObject) ? all : undefined;
  });
  const oldName = first?.metadata?.name as string;
  await attest(oldName);
  await eventually('the replica ready', async () => {
    const p = await getPool(client, namespace, 'f');
    return condition(p, 'Ready')?.status === 'True' ? p : undefined;
  });

  await client.rest.request('PATCH', resourcePath(InferencePools, namespace, 'f'), {
    contentType: 'application/merge-patch+json', body: { spec: { model: { hash: NEW_HASH } } },
  });
  const blocked = await eventually('Progressing False WaitingForCapacity for the update', async () => {
    const p = await getPool(client, namespace, 'f');
    const c = condition(p, 'Progressing');
    return c?.status === 'False' && c.reason === 'WaitingForCapacity' && /update to the current spec/.test(c.message) ? p : undefined;
  }, 30_000, async () => JSON.stringify((await getPool(client, namespace, 'f'))?.status?.conditions));
  t.regex(condition(blocked, 'Progressing')?.message ?? '', /1 new replica of 8 GPUs could not be placed; 1 replica built for an earlier .* keep serving/);
  t.not(condition(blocked, 'Degraded')?.status, 'True', 'as many replicas as desired are placed');
  t.is(blocked.status?.replicas?.ready, 1);
  // Nothing is deleted first.
  await new Promise((r) => setTimeout(r, 3000));
  const pods = live(await poolPods(client, namespace, 'f'));
  t.deepEqual(pods.map((p) => p.metadata?.name), [oldName]);
  t.is(modelHashOf(pods[0] as KubeObject), OLD_HASH);

  // Capacity arrives: the surge replica is placed there, and once it is ready the old one goes.
  more.push(await createGpuFleet(kc, { prefix: `ip-full2-${suffix}`, count: 1, gpuModel: model, providers: 1 }));
  const surge = await eventually('the surge replica placed on the new node', async () => {
    const all = live(await poolPods(client, namespace, 'f'));
    return all.find((p) => modelHashOf(p) === NEW_HASH && nodeOf(p));
  }, 30_000);
  await attest(surge.metadata?.name as string);
  await eventually('only the new replica left', async () => {
    const all = live(await poolPods(client, namespace, 'f'));
    return all.length === 1 && modelHashOf(all[0] as KubeObject) === NEW_HASH ? all : undefined;
  }, 30_000);
  t.pass();
});
