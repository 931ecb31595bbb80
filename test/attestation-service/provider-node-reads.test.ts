// How the service and metering read a host's ProviderNode (provider-node-reads.ts): the informer's copy,
// unless this process has seen a newer version — one its own status write returned, or one it just read
// from the apiserver — which stands in until the informer shows that version (or REMEMBER_MS passes).
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodeReads } from '../../operator/src/attestation/service/provider-node-reads.js';
import { REMEMBER_MS } from '../../operator/src/kube/own-writes.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import type { RestClient } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';

const pn = (rv: string): ProviderNode & KubeObject => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1', resourceVersion: rv },
  spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'a'.repeat(64)}` },
} as ProviderNode & KubeObject);

/** The apiserver as the test sets it: GETs answer `current`, and are counted. */
function apiserver() {
  const server = { current: pn('1'), gets: 0 };
  const rest = { request: async (method: string) => { if (method !== 'GET') throw new Error(method); server.gets++; return structuredClone(server.current); } } as unknown as RestClient;
  return { server, rest };
}

test('the object a write returned stands in for the informer\'s copy until the informer shows that version', async (t) => {
  const { server, rest } = apiserver();
  const cache = new Store<ProviderNode & KubeObject>();
  cache.put(pn('1'));
  const reads = new ProviderNodeReads({ rest, cache });
  t.is((await reads.forNode('gpu-1', false))?.metadata.resourceVersion, '1');
  reads.remember(pn('2')); // a status write answered with version 2
  t.is((await reads.forNode('gpu-1', false))?.metadata.resourceVersion, '2', 'the informer still shows 1');
  cache.put(pn('2'));
  cache.put(pn('3')); // someone else's write after ours
  t.is((await reads.named('gpu-1', false))?.metadata.resourceVersion, '3', 'the informer caught up: its copy again');
  t.is(server.gets, 0);
});

test('an object read from the apiserver stands in likewise, so the next read does not go there again', async (t) => {
  const { server, rest } = apiserver();
  const cache = new Store<ProviderNode & KubeObject>();
  cache.put(pn('1'));
  const reads = new ProviderNodeReads({ rest, cache });
  server.current = pn('5');
  t.is((await reads.forNode('gpu-1', 'node-verdict-conflict'))?.metadata.resourceVersion, '5');
  t.is((await reads.forNode('gpu-1', false))?.metadata.resourceVersion, '5', 'not the informer\'s 1');
  t.is(server.gets, 1);
  t.deepEqual(reads.counts, { cached: 1, fresh: 1 });
});

test('a remembered version the informer never shows is dropped after REMEMBER_MS; without an informer every read is fresh', async (t) => {
  let now = 0;
  const { server, rest } = apiserver();
  const cache = new Store<ProviderNode & KubeObject>();
  cache.put(pn('1'));
  const reads = new ProviderNodeReads({ rest, cache, now: () => now });
  reads.remember(pn('2'));
  now = REMEMBER_MS + 1;
  t.is((await reads.forNode('gpu-1', false))?.metadata.resourceVersion, '1');

  const uncached = new ProviderNodeReads({ rest });
  uncached.remember(pn('9'));
  server.current = pn('4');
  t.is((await uncached.forNode('gpu-1', false))?.metadata.resourceVersion, '4');
  t.is(server.gets, 1);
});

test('a read that expects what the copy does not show yet waits for the informer to show it, and asks the apiserver only when it does not in time, counted by why', async (t) => {
  const { server, rest } = apiserver();
  const cache = new Store<ProviderNode & KubeObject>();
  cache.put(pn('1'));
  const metrics = new OperatorMetrics();
  const reads = new ProviderNodeReads({ rest, cache, metrics });
  const atLeast = (rv: number) => (copy: ProviderNode) => Number(copy.metadata.resourceVersion) >= rv;

  t.is((await reads.forNodeShowing('gpu-1', atLeast(1), 'replica-evidence-not-shown', 1_000))?.metadata.resourceVersion, '1', 'shown already');
  // The informer delivers version 2 (the controller's challenge, say) 50 ms after the request came.
  setTimeout(() => cache.put(pn('2')), 50);
  const started = Date.now();
  t.is((await reads.forNodeShowing('gpu-1', atLeast(2), 'replica-evidence-not-shown', 2_000))?.metadata.resourceVersion, '2');
  t.true(Date.now() - started < 1_000, `answered ${Date.now() - started} ms after the request, when the informer showed it`);
  t.is(server.gets, 0, 'no GET while the informer caught up in time');

  // It never shows version 3 in time: the apiserver's object, whatever it shows, is the answer.
  server.current = pn('3');
  t.is((await reads.forNodeShowing('gpu-1', atLeast(3), 'replica-evidence-not-shown', 100))?.metadata.resourceVersion, '3');
  t.is(server.gets, 1);
  server.current = pn('4');
  t.is((await reads.forNodeShowing('gpu-1', atLeast(9), 'node-evidence-not-shown', 100))?.metadata.resourceVersion, '4', 'the apiserver\'s answer even when it does not show it either');
  t.is(server.gets, 2);
  const counted = (await metrics.providerNodeFreshReads.get()).values.map((v) => `${v.labels.reason} ${v.value}`).sort();
  t.deepEqual(counted, ['node-evidence-not-shown 1', 'replica-evidence-not-shown 1']);
});
