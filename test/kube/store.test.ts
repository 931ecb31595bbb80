// The informer's cache: objects pass the transform before anyone sees them, and every index stays
// equal to what a scan of the cache would answer, through adds, updates that move an object between
// index values, deletes and relists.
import test from 'ava';
import { BY_NODE_NAME, BY_POOL, nodeNameOf, poolOf } from '../../operator/src/kube/indexes.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

function pod(name: string, node: string | undefined, pool: string | undefined, rv = '1'): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'team', resourceVersion: rv, ...(pool ? { labels: { 'chrysalis.dev/pool': pool } } : {}) },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'c', image: 'big' }] },
  };
}

const names = (objs: KubeObject[]) => objs.map((o) => o.metadata?.name).sort();

/** What the index must answer: a scan of everything cached. */
function scan(store: Store<KubeObject>, value: string, of: (o: KubeObject) => string | readonly string[] | undefined) {
  return names(store.list().filter((o) => [of(o)].flat().includes(value)));
}

test('indexes follow adds, moves between values, deletes and relists exactly as a scan would', (t) => {
  const store = new Store<KubeObject>().addIndexer(BY_NODE_NAME, nodeNameOf).addIndexer(BY_POOL, poolOf);
  store.put(pod('a', undefined, 'llama'));
  store.put(pod('b', 'gpu-1', 'llama'));
  store.put(pod('c', 'gpu-1', undefined));
  t.deepEqual(names(store.byIndex(BY_NODE_NAME, 'gpu-1')), ['b', 'c']);
  t.deepEqual(names(store.byIndex(BY_POOL, 'team/llama')), ['a', 'b']);

  store.put(pod('a', 'gpu-2', 'llama', '2')); // bound
  store.put(pod('b', 'gpu-2', 'mistral', '2')); // moved node and pool
  store.remove(pod('c', 'gpu-1', undefined));
  t.deepEqual(store.byIndex(BY_NODE_NAME, 'gpu-1'), []);
  t.is(store.countByIndex(BY_NODE_NAME, 'gpu-1'), 0);
  t.deepEqual(names(store.byIndex(BY_NODE_NAME, 'gpu-2')), ['a', 'b']);
  t.deepEqual(names(store.byIndex(BY_POOL, 'team/llama')), ['a']);
  t.deepEqual(names(store.byIndex(BY_POOL, 'team/mistral')), ['b']);

  // A relist that lost 'a', changed 'b' and brought 'd'.
  const seen: string[] = [];
  store.onAdd((o) => seen.push(`add ${o.metadata?.name}`)).onUpdate((_o, o) => seen.push(`update ${o.metadata?.name}`)).onDelete((o) => seen.push(`delete ${o.metadata?.name}`));
  store.replace([pod('b', 'gpu-3', 'mistral', '3'), pod('d', 'gpu-2', 'llama', '1')]);
  t.deepEqual(seen.sort(), ['add d', 'delete a', 'update b']);
  for (const node of ['gpu-1', 'gpu-2', 'gpu-3']) t.deepEqual(names(store.byIndex(BY_NODE_NAME, node)), scan(store, node, nodeNameOf), node);
  for (const pool of ['team/llama', 'team/mistral']) t.deepEqual(names(store.byIndex(BY_POOL, pool)), scan(store, pool, poolOf), pool);
});

test('an index added to a filled cache covers what it already holds', (t) => {
  const store = new Store<KubeObject>();
  store.put(pod('a', 'gpu-1', 'llama'));
  store.addIndexer(BY_NODE_NAME, nodeNameOf);
  t.deepEqual(names(store.byIndex(BY_NODE_NAME, 'gpu-1')), ['a']);
});

test('two readers of one cache share an index by name; the same name with another rule is refused', (t) => {
  const store = new Store<KubeObject>().addIndexer(BY_NODE_NAME, nodeNameOf);
  t.notThrows(() => store.addIndexer(BY_NODE_NAME, nodeNameOf));
  t.throws(() => store.addIndexer(BY_NODE_NAME, () => 'elsewhere'), { message: /already defined differently/ });
  t.throws(() => store.byIndex('no-such-index', 'x'), { message: /no index no-such-index/ });
});

test('the transform runs before the object is cached, indexed or handed to a handler', (t) => {
  const store = new Store<KubeObject>({
    transform: (o) => { (o.spec as { containers?: unknown }).containers = undefined; return o; },
  }).addIndexer(BY_NODE_NAME, nodeNameOf);
  const handed: KubeObject[] = [];
  store.onAdd((o) => handed.push(o)).onUpdate((_old, o) => handed.push(o)).onDelete((o) => handed.push(o));
  store.put(pod('a', 'gpu-1', undefined));
  store.put(pod('a', 'gpu-1', undefined, '2'));
  store.replace([pod('a', 'gpu-1', undefined, '3')]);
  store.remove(pod('a', 'gpu-1', undefined, '4'));
  store.remove(pod('never-cached', 'gpu-1', undefined)); // a delete the cache never saw the add of
  t.is(handed.length, 5);
  for (const o of handed) t.is((o.spec as { containers?: unknown }).containers, undefined);
});

test('a handler that throws does not stop the cache or the other handlers', (t) => {
  const store = new Store<KubeObject>().addIndexer(BY_NODE_NAME, nodeNameOf);
  let told = 0;
  store.onAdd(() => { throw new Error('broken handler'); }).onAdd(() => { told++; });
  store.put(pod('a', 'gpu-1', undefined));
  t.is(told, 1);
  t.deepEqual(names(store.byIndex(BY_NODE_NAME, 'gpu-1')), ['a']);
});
