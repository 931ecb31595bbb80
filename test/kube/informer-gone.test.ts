// 410 Gone from the real apiserver. This private control plane serves watches straight from etcd
// (--watch-cache=false) and compacts etcd every second, so a watch resumed from a resourceVersion
// older than a few seconds is answered with 410 Expired — exactly what an informer that fell behind
// sees in production. The informer must relist and emit synthetic events for every difference,
// including deletes it could not otherwise know about.
import test from 'ava';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { ConfigMaps, type KubeObject } from '../../operator/src/kube/resource.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';
import { KubeApiError } from '../../operator/src/kube/rest.js';
import { assertConverges, configMap, directClient, recordingInformer, until } from './informer-harness.js';
import { TcpProxy } from './tcp-proxy.js';

let cp: ControlPlane;
let proxy: TcpProxy;
let client: KubeClient;

test.before(async () => {
  cp = await startControlPlane({
    controllerManager: false, scheduler: false, kwok: false,
    apiserverArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'],
  });
  proxy = await TcpProxy.start(Number(new URL(cp.server).port));
  client = directClient(cp.kubeConfig());
});

test.after.always(async () => {
  // The direct client's keep-alive sockets would otherwise hold the worker open after the last test.
  client?.rest.close();
  await proxy?.close();
  await cp?.stop();
});

test('after a 410 the informer relists, reports every change made while it was away, and converges', async (t) => {
  const ns = 'gone';
  await client.rest.request('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  for (const n of ['a', 'b', 'c']) await client.apply(ConfigMaps, configMap(ns, n, { v: '1' }));
  const { informer, seen, restarts, close } = recordingInformer(proxy.kubeConfig(cp.kubeConfig()), ns);
  t.teardown(close);
  informer.start();
  await informer.waitForSync(30_000);
  const rvBefore = informer.resourceVersion;

  proxy.hold();
  const firstWhileAway = await client.apply<KubeObject>(ConfigMaps, configMap(ns, 'd', { v: '1' }));
  await client.apply(ConfigMaps, configMap(ns, 'b', { v: '2' }));
  await client.delete(ConfigMaps, 'c', ns);
  // Push etcd's compacted revision past the first change the informer missed: more writes, then wait
  // until etcd has compacted it (a list at exactly that revision is then 410), however long the
  // compactor takes on this machine, rather than for a fixed two compaction intervals. Not the
  // informer's own resourceVersion: a watch from R replays from R+1, so a compaction that lands
  // exactly on R+1 makes a list at R 410 while the watch still resumes without one (seen in CI).
  const missedRevision = firstWhileAway.metadata!.resourceVersion!;
  for (let i = 0; i < 5; i++) await client.apply(ConfigMaps, configMap(ns, 'churn', { i: String(i) }));
  await until('etcd compacted past the first change the informer missed', async () => {
    try {
      await client.rest.request('GET', `/api/v1/namespaces/${ns}/configmaps`, { query: { resourceVersion: missedRevision, resourceVersionMatch: 'Exact' } });
      return false;
    } catch (err) {
      return err instanceof KubeApiError && err.code === 410;
    }
  }, 60_000);
  proxy.release();

  await until('a 410 was seen', async () => ((await restarts()).gone ?? 0) >= 1, 30_000);
  await assertConverges(t, client, informer);
  t.log('watch restarts by reason:', await restarts(), 'resumed from', rvBefore);
  const has = (type: string, name: string, v?: string) => seen.some((e) => e.type === type && e.name === name && (v === undefined || e.data?.v === v));
  t.true(has('add', 'd', '1'));
  t.true(has('update', 'b', '2'));
  t.true(has('delete', 'c'), 'the delete is known only from the relist diff');
  t.true(has('add', 'churn'));
});
