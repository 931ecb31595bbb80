// Finding (placement bench, --quick: 200 nodes, 100 pools): 174–221 pool status applies for 100 pools
// inside the timed window, where each pool's status changes once. A reconcile woken by the pool's own
// Pods before the informer delivered its status write compared the new status with the copy from before
// that write, found it different, and applied it again — and since the copy showed no conditions yet, with
// a new lastTransitionTime on every condition. The reconciler now plans from what it last wrote until
// the informer shows it (kube/own-writes.ts).
//
// Against the real apiserver; the reconciler reads from caches the test fills by hand, so "the informer
// has not delivered the write yet" is exact rather than a matter of timing.
import test from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { installCrds } from '../../dev/install-crds.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { InferencePoolReconciler } from '../../operator/src/controllers/inferencepool/reconciler.js';
import type { EventRecorder } from '../../operator/src/kube/events.js';
import { objectKey, type KubeObject } from '../../operator/src/kube/resource.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { adminClient, createPool, getPool, handFilledCaches, poolObject, TEST_CONFIG, uniqueSuffix } from './kube-fixtures.js';

type Conditions = Array<{ type: string; status: string; lastTransitionTime: string }>;
const conditionsOf = (pool: InferencePool | undefined) => (pool?.status?.conditions ?? []) as Conditions;

test('a reconcile before the informer shows the pool\'s status write does not write it again, nor move its lastTransitionTimes', async (t) => {
  const kc = (await testCluster()).kubeConfig();
  await installCrds(kc);
  const namespace = await useNamespace(t, 'pool-own-writes');
  const client = adminClient(kc);
  t.teardown(() => client.rest.close());

  // No node in the fleet: the pool's one replica waits for capacity, a status the reconcile writes.
  await createPool(client, poolObject('w', namespace, 1, `W${uniqueSuffix()}`));
  const created = await getPool(client, namespace, 'w') as InferencePool & KubeObject;
  const { view, pools } = handFilledCaches({ pools: [created] });
  const events = { record: async () => true } as unknown as EventRecorder;
  let now = new Date(Date.now() - 60_000);
  const reconciler = new InferencePoolReconciler({ client, events, view, pools, config: TEST_CONFIG, now: () => now });
  const key = objectKey('InferencePool', namespace, 'w');
  const ctx = { log: silentLogger(), signal: new AbortController().signal };

  await reconciler.reconcile(key, ctx);
  const first = await getPool(client, namespace, 'w') as InferencePool & KubeObject;
  t.not(first.metadata.resourceVersion, created.metadata.resourceVersion, 'the first reconcile writes the status');
  t.true(conditionsOf(first).some((c) => c.type === 'Progressing' && c.status === 'False'), JSON.stringify(conditionsOf(first)));

  // Seconds later, woken by something else, with the informer still holding the pool as created.
  now = new Date(now.getTime() + 5_000);
  t.is(pools.get(namespace, 'w')?.metadata.resourceVersion, created.metadata.resourceVersion);
  await reconciler.reconcile(key, ctx);
  const second = await getPool(client, namespace, 'w') as InferencePool & KubeObject;
  t.is(second.metadata.resourceVersion, first.metadata.resourceVersion, 'nothing changed, so nothing is written');
  t.deepEqual(conditionsOf(second), conditionsOf(first));

  // Once the informer shows the write, its copy stands on its own and still asks for nothing.
  (pools as unknown as { put(o: KubeObject): void }).put(first);
  now = new Date(now.getTime() + 5_000);
  await reconciler.reconcile(key, ctx);
  t.is((await getPool(client, namespace, 'w'))?.metadata?.resourceVersion, first.metadata.resourceVersion);
});
