// What a controller wrote stands in for the informer's copy until the informer shows that version
// (kube/own-writes.ts), keyed by namespace and name.
import test from 'ava';
import { OwnWrites, REMEMBER_MS } from '../../operator/src/kube/own-writes.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

const pool = (namespace: string, name: string, resourceVersion: string, ready: string): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Thing', metadata: { namespace, name, resourceVersion }, status: { ready } });

test('a written object stands in for the older copy until the informer delivers that version, then the copy is used', (t) => {
  const cache = new Store<KubeObject>();
  const own = new OwnWrites(cache, () => 0);
  cache.put(pool('a', 'p', '1', 'no'));
  cache.put(pool('b', 'p', '5', 'no'));

  own.remember(pool('a', 'p', '2', 'yes'));
  t.is(own.newest(cache.get('a', 'p') as KubeObject).metadata?.resourceVersion, '2');
  // Another namespace's object of the same name is not affected.
  t.is(own.newest(cache.get('b', 'p') as KubeObject).metadata?.resourceVersion, '5');

  // The informer delivers the write, then someone else's newer one: the copy wins from then on.
  cache.put(pool('a', 'p', '2', 'yes'));
  cache.put(pool('a', 'p', '3', 'someone else'));
  t.deepEqual(own.newest(cache.get('a', 'p') as KubeObject).status, { ready: 'someone else' });
});

test('a write that changed nothing (the copy shows its version) is not remembered; forget and REMEMBER_MS drop what is', (t) => {
  let now = 0;
  const cache = new Store<KubeObject>();
  const own = new OwnWrites(cache, () => now);
  cache.put(pool('a', 'p', '1', 'no'));

  own.remember(pool('a', 'p', '1', 'no'));
  t.is(own.newest(cache.get('a', 'p') as KubeObject), cache.get('a', 'p') as KubeObject);

  own.remember(pool('a', 'p', '2', 'yes'));
  own.forget('a', 'p');
  t.is(own.newest(cache.get('a', 'p') as KubeObject).metadata?.resourceVersion, '1');

  // The informer skipped the remembered version (a relist): it is dropped after REMEMBER_MS.
  own.remember(pool('a', 'p', '2', 'yes'));
  now += REMEMBER_MS - 1;
  t.is(own.newest(cache.get('a', 'p') as KubeObject).metadata?.resourceVersion, '2');
  now += 2;
  t.is(own.newest(cache.get('a', 'p') as KubeObject).metadata?.resourceVersion, '1');

  // A deleted object's memory goes with it.
  own.remember(pool('a', 'p', '4', 'yes'));
  cache.remove(cache.get('a', 'p') as KubeObject);
  cache.put(pool('a', 'p', '9', 'recreated'));
  t.is(own.newest(cache.get('a', 'p') as KubeObject).metadata?.resourceVersion, '9');
});
