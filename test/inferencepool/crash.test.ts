// Reliability: kill -9 the controller's process while it is placing 200 replicas, start it again, and
// check the invariant — exactly 200 replica Pods, one per index, each owned by the pool and bound, and
// no node holding more GPUs than it has — not merely that no error was seen.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import { Pods, type KubeObject } from '../../operator/src/kube/resource.js';
import { LABEL_REPLICA } from '../../operator/src/marks.js';
import { adminClient, createGpuFleet, createPool, eventually, getPool, GPU, nodeOf, poolObject, poolPods, uniqueSuffix } from './kube-fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPLICAS = 200;

function startChild(kubeconfig: string, namespace: string): { child: ChildProcess; ready: Promise<void>; output: () => string } {
  // A small client budget makes placing 200 replicas take several seconds, so the kill lands mid-way.
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures/run-controller.ts')], {
    env: { ...process.env, KUBECONFIG: kubeconfig, WATCH_NAMESPACE: namespace, QPS: '40', BURST: '20' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-4000); });
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    child.stdout?.on('data', (d: Buffer) => { if (d.toString().includes('READY')) resolveReady(); });
    child.on('exit', (code, signal) => rejectReady(new Error(`controller exited (${code ?? signal}) before it was ready: ${out}`)));
  });
  return { child, ready, output: () => out };
}

test('kill -9 in the middle of placing 200 replicas (twice), then a restart, converges with no duplicate and no orphan Pod', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const namespace = await useNamespace(t, 'crash');
  const suffix = uniqueSuffix();
  const model = `C${suffix}`;
  // 30 nodes × 8 GPUs = 240 GPUs for 200 one-GPU replicas.
  const fleet = await createGpuFleet(kc, { prefix: `ip-crash-${suffix}`, count: 30, gpuModel: model, providers: 6 });
  const client = adminClient(kc);
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await fleet.cleanup();
    client.rest.close();
  });

  let running = startChild(cluster.kubeconfigPath, namespace);
  children.push(running.child);
  await running.ready;
  const pool = await createPool(client, poolObject('big', namespace, REPLICAS, model));

  // Two kills, each while replicas are still being created (each new replica is created bound to its
  // node): once 40 exist, and again after a restart, once 120 exist. Each lands mid-way, which the log
  // and the assertion show.
  const killPoints: Array<{ what: string; reached: (pods: KubeObject[]) => boolean }> = [
    { what: 'at least 40 replica Pods exist', reached: (pods) => pods.length >= 40 },
    { what: 'at least 120 replica Pods exist', reached: (pods) => pods.length >= 120 },
  ];
  for (const point of killPoints) {
    const current = running;
    const atKill = await eventually(point.what, async () => {
      const pods = await poolPods(client, namespace, 'big');
      return point.reached(pods) ? pods : undefined;
    }, 60_000, async () => current.output());
    current.child.kill('SIGKILL');
    await new Promise((r) => current.child.once('exit', r));
    const after = await poolPods(client, namespace, 'big');
    const bound = after.filter((p) => nodeOf(p)).length;
    t.log(`kill -9 when ${point.what}: ${atKill.length} Pods before, ${after.length} Pods and ${bound} bound just after`);
    t.true(bound < REPLICAS, 'the kill landed before every replica was bound');
    running = startChild(cluster.kubeconfigPath, namespace);
    children.push(running.child);
    await running.ready;
  }
  const second = running;
  const pods = await eventually(`${REPLICAS} bound replicas`, async () => {
    const all = await poolPods(client, namespace, 'big');
    return all.length === REPLICAS && all.every((p) => nodeOf(p)) ? all : undefined;
  }, 120_000, async () => `${(await poolPods(client, namespace, 'big')).filter((p) => nodeOf(p)).length} bound; ${second.output()}`);

  // Exactly one Pod per index 0..199, under its deterministic name.
  const names = pods.map((p) => p.metadata?.name as string).sort();
  t.deepEqual(names, Array.from({ length: REPLICAS }, (_, i) => `big-${i}`).sort());
  t.is(new Set(pods.map((p) => p.metadata?.labels?.[LABEL_REPLICA])).size, REPLICAS);
  // No orphan: every Pod is owned by this pool (its uid) and bound to one of the fleet's nodes.
  for (const pod of pods) {
    const owners = pod.metadata?.ownerReferences ?? [];
    t.is(owners.length, 1, pod.metadata?.name);
    t.like(owners[0], { uid: pool.metadata.uid, controller: true });
    t.true(fleet.names.includes(nodeOf(pod) as string), `${pod.metadata?.name} bound to ${nodeOf(pod)}`);
  }
  // GPU accounting: no node over its allocatable, counting every Pod in the namespace.
  const all = (await client.list<KubeObject>(Pods, { namespace })).items;
  const perNode = new Map<string, number>();
  for (const pod of all) {
    const gpus = Number((pod.spec as { containers: Array<{ resources?: { limits?: Record<string, string> } }> }).containers
      .reduce((sum, c) => sum + Number(c.resources?.limits?.[GPU] ?? 0), 0));
    const node = nodeOf(pod);
    if (node) perNode.set(node, (perNode.get(node) ?? 0) + gpus);
  }
  for (const [node, gpus] of perNode) t.true(gpus <= 8, `${node} holds ${gpus} GPUs`);
  t.is(all.length, REPLICAS, 'no Pod beyond the replicas');

  const status = await eventually('status reports 200 placed', async () => {
    const p = await getPool(client, namespace, 'big');
    return p?.status?.replicas?.placed === REPLICAS ? p : undefined;
  });
  t.is(status.status?.placements?.length, REPLICAS);
  second.child.kill('SIGTERM');
});
