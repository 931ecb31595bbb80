// The InferencePool controller against the real control plane (kwok plays the GPU node): a replica whose
// model check reported another hash than spec.model.hash makes the pool's ModelVerified condition False
// with reason ModelHashMismatch and a message naming both hashes, read from the init container's
// terminated state in the Pod's status; a replica that verified the model is what turns it True.
import test from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import { Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { formatModelCheckReport, mismatchMessage } from '../../operator/src/model/model-check-report.js';
import { MODEL_CHECK_CONTAINER } from '../../operator/src/model/model-volume.js';
import {
  adminClient, createGpuFleet, createPool, eventually, getPool, nodeOf, poolObject, poolPods, startController, uniqueSuffix,
} from './kube-fixtures.js';

const EXPECTED = 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6'; // poolObject's spec.model.hash
const COMPUTED = '5'.repeat(64);

test.before(async () => {
  await installCrds((await testCluster()).kubeConfig());
});

/** What the kubelet writes for an init container: here the model check, terminated with `exitCode`. */
function checkStatus(exitCode: number, message: string, retrying: boolean) {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt: now, finishedAt: now };
  return [{
    name: MODEL_CHECK_CONTAINER, ready: exitCode === 0, restartCount: retrying ? 1 : 0, image: 'attester', imageID: '',
    ...(retrying ? { state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated } } : { state: { terminated } }),
  }];
}

test('a model hash mismatch in a replica is the pool condition ModelVerified=False ModelHashMismatch naming both hashes', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  const namespace = await useNamespace(t, 'model-verified');
  const suffix = uniqueSuffix();
  const model = `M${suffix}`;
  const fleet = await createGpuFleet(kc, { prefix: `ip-mv-${suffix}`, count: 1, gpuModel: model, providers: 1, attested: () => true });
  const controller = startController(kc, { namespace, gateGraceMs: 1000 });
  const client = adminClient(kc);
  t.teardown(async () => {
    await controller.stop();
    await fleet.cleanup();
    client.rest.close();
  });

  await createPool(client, poolObject('mv', namespace, 2, model));
  const pods = await eventually('2 bound replicas', async () => {
    const all = await poolPods(client, namespace, 'mv');
    return all.length === 2 && all.every((p) => nodeOf(p)) ? all : undefined;
  });
  t.true(pods.every((p) => ((p.spec as { initContainers?: Array<{ name: string }> }).initContainers ?? []).some((c) => c.name === MODEL_CHECK_CONTAINER)));
  // kwok runs the Pods first (it writes their status); the model checks' outcomes are written after it.
  await eventually('kwok ran both replicas', async () => {
    const all = await poolPods(client, namespace, 'mv');
    return all.every((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running') ? all : undefined;
  });
  const patchStatus = (name: string, statuses: unknown) => client.rest.request('PATCH', resourcePath(Pods, namespace, name, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { initContainerStatuses: statuses } },
  });

  await patchStatus('mv-1', checkStatus(0, formatModelCheckReport({ result: 'verified', hash: EXPECTED, root: 'd'.repeat(64), files: 2, bytes: 9, message: 'model verified' }), false));
  const verified = await eventually('ModelVerified True', async () => {
    const c = (await getPool(client, namespace, 'mv'))?.status?.conditions?.find((x) => x.type === 'ModelVerified');
    return c?.status === 'True' ? c : undefined;
  });
  t.is(verified.reason, 'HashMatches');

  // The other replica's check computed another hash; the kubelet is retrying it (CrashLoopBackOff).
  await patchStatus('mv-0', checkStatus(1, formatModelCheckReport({
    result: 'mismatch', expected: EXPECTED, computed: COMPUTED, root: 'e'.repeat(64), files: 2, bytes: 9, message: mismatchMessage(EXPECTED, COMPUTED),
  }), true));
  const mismatch = await eventually('ModelVerified False ModelHashMismatch', async () => {
    const c = (await getPool(client, namespace, 'mv'))?.status?.conditions?.find((x) => x.type === 'ModelVerified');
    return c?.status === 'False' ? c : undefined;
  }, 60_000, async () => JSON.stringify((await getPool(client, namespace, 'mv'))?.status?.conditions));
  t.is(mismatch.reason, 'ModelHashMismatch');
  t.true(mismatch.message.includes(EXPECTED), mismatch.message);
  t.true(mismatch.message.includes(COMPUTED), mismatch.message);
  t.true(mismatch.message.includes('mv-0'), mismatch.message);
  const pool = await getPool(client, namespace, 'mv');
  t.is(pool?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
  t.true((pool?.status?.replicas?.ready ?? 0) <= 1);
  // The Pod keeps what the kubelet wrote (nothing here rewrites the init container's status).
  const pod = await client.get<KubeObject>(Pods, 'mv-0', namespace);
  t.is((pod?.status as { initContainerStatuses?: unknown[] } | undefined)?.initContainerStatuses?.length, 1);
});
