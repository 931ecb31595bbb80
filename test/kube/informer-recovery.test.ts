// The informer against a private control plane whose apiserver this file stops and restarts, or whose
// connections it cuts (a TCP pass-through, tcp-proxy.ts). Invariant checked each time: after recovery
// the cache equals a fresh list, and every create/update/delete made while the watch was down was
// delivered to the handlers (deletes included).
import test from 'ava';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { ConfigMaps } from '../../operator/src/kube/resource.js';
import type { KubeClient } from '../../operator/src/kube/kube-client.js';
import { assertConverges, configMap, directClient, recordingInformer, until } from './informer-harness.js';
import { TcpProxy } from './tcp-proxy.js';

let cp: ControlPlane;
let proxy: TcpProxy;
let client: KubeClient;

test.before(async () => {
  cp = await startControlPlane({ controllerManager: false, scheduler: false, kwok: false });
  proxy = await TcpProxy.start(Number(new URL(cp.server).port));
  client = directClient(cp.kubeConfig());
});

test.after.always(async () => {
  // The direct client's keep-alive sockets would otherwise hold the worker open after the last test.
  client?.rest.close();
  await proxy?.close();
  await cp?.stop();
});

async function namespace(name: string): Promise<string> {
  await client.rest.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  return name;
}

test.serial('the informer converges after the apiserver is stopped and restarted mid-watch, missing no change made meanwhile', async (t) => {
  const ns = await namespace('restart');
  for (const n of ['a', 'b', 'c']) await client.apply(ConfigMaps, configMap(ns, n, { v: '1' }));
  const { informer, seen, restarts, close } = recordingInformer(proxy.kubeConfig(cp.kubeConfig()), ns);
  t.teardown(close);
  informer.start();
  await informer.waitForSync(30_000);
  await until('a, b, c cached', () => ['a', 'b', 'c'].every((n) => informer.get(ns, n)));

  // A change just before the stop: it may or may not reach the watch before the stream breaks.
  await client.apply(ConfigMaps, configMap(ns, 'a', { v: '2' }));
  await cp.stopApiserver();
  // Keep the informer off the new apiserver until the changes below are made, so they are certainly
  // made while its watch is down (it keeps retrying and is refused).
  proxy.hold();
  await cp.startApiserver();
  await client.apply(ConfigMaps, configMap(ns, 'd', { v: '1' }));
  await client.apply(ConfigMaps, configMap(ns, 'b', { v: '2' }));
  await client.delete(ConfigMaps, 'c', ns);
  proxy.release();

  await assertConverges(t, client, informer);
  const has = (type: string, name: string, v?: string) => seen.some((e) => e.type === type && e.name === name && (v === undefined || e.data?.v === v));
  t.true(has('update', 'a', '2'), 'update of a made before the stop');
  t.true(has('add', 'd', '1'), 'create made while down');
  t.true(has('update', 'b', '2'), 'update made while down');
  t.true(has('delete', 'c'), 'delete made while down');
  const r = await restarts();
  t.log('watch restarts by reason:', r);
  t.true((r.error ?? 0) + (r.gone ?? 0) + (r.closed ?? 0) >= 1, 'the watch really was interrupted');
});

test.serial('a watch that goes silent without closing is restarted by the watchdog and misses nothing', async (t) => {
  const ns = await namespace('silent');
  await client.apply(ConfigMaps, configMap(ns, 'a', { v: '1' }));
  const { informer, seen, restarts, close } = recordingInformer(proxy.kubeConfig(cp.kubeConfig()), ns, { silenceTimeoutMs: 2000 });
  t.teardown(close);
  informer.start();
  await informer.waitForSync(30_000);
  proxy.freeze(); // the open watch now carries nothing, and nothing tells the client
  await client.apply(ConfigMaps, configMap(ns, 'a', { v: '2' }));
  await client.apply(ConfigMaps, configMap(ns, 'b', { v: '1' }));
  await until('watchdog fired', async () => ((await restarts()).silent ?? 0) >= 1, 20_000);
  await assertConverges(t, client, informer);
  t.true(seen.some((e) => e.type === 'update' && e.name === 'a' && e.data?.v === '2'));
  t.true(seen.some((e) => e.type === 'add' && e.name === 'b'));
});
