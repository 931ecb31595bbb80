// A relist cuts each page of the list to the cached shape as the page arrives, and each object once: a
// list of a whole cluster's Pods is never held whole until its last page (the transform is what keeps an
// operator's heap small, and a cold start or a 410 relists everything). And an informer stopped as it
// syncs stops at once. Pure: a fake client serves the pages.
import test from 'ava';
import { Informer, LIST_PAGE_TIMEOUT_MS } from '../../operator/src/kube/informer.js';
import { Pods, type KubeObject } from '../../operator/src/kube/resource.js';
import type { RestClient } from '../../operator/src/kube/rest.js';

test('each list page is transformed before the next is asked for, and each object once', async (t) => {
  const pages = 3;
  const pageSize = 4;
  let transformed = 0;
  const transformedWhenAsked: number[] = [];
  const timeouts: Array<number | undefined> = [];
  const client = {
    async request(_method: string, _path: string, options: { query: { continue?: string }; timeoutMs?: number }) {
      const page = options.query.continue ? Number(options.query.continue) : 0;
      timeouts.push(options.timeoutMs);
      transformedWhenAsked.push(transformed);
      const items = Array.from({ length: pageSize }, (_, i) => ({ metadata: { name: `p-${page}-${i}`, namespace: 'ns', resourceVersion: '1' }, spec: { big: 'x'.repeat(100) } }));
      return { metadata: { resourceVersion: '1', ...(page + 1 < pages ? { continue: String(page + 1) } : {}) }, items };
    },
    // The watch waits until the informer stops it.
    watch: (_path: string, _query: unknown, _onEvent: unknown, signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
  } as unknown as RestClient;
  const informer = new Informer<KubeObject>({
    client, resource: Pods, pageSize,
    transform: (obj) => { transformed++; return { ...obj, spec: {} }; },
  });
  informer.start();
  await informer.waitForSync(5000);
  // Stopped the moment it synced, before its watch began: it stops at once, not when the watch would
  // have gone silent (150 s).
  const stopping = Date.now();
  await informer.stop();
  t.true(Date.now() - stopping < 2000, `stopped in ${Date.now() - stopping} ms`);
  t.deepEqual(transformedWhenAsked, [0, pageSize, 2 * pageSize], 'the pages before were cut down when the next was asked for');
  t.is(transformed, pages * pageSize, 'each object transformed once');
  // Longer than kube-apiserver's own 60 s bound: the client never gives up on a page still being made.
  t.deepEqual(timeouts, new Array(pages).fill(LIST_PAGE_TIMEOUT_MS));
  t.true(LIST_PAGE_TIMEOUT_MS > 60_000);
  t.is(informer.size, pages * pageSize);
  t.true(informer.list().every((o) => JSON.stringify(o.spec) === '{}' && o.kind === 'Pod'));
});
