// Metering finds a replica's ProviderNode through the operator's ProviderNode cache (its spec.nodeName
// index), never by listing every ProviderNode per report: what the cache does not hold is refused, even
// when the apiserver has it, and a Node two ProviderNodes name is nobody's.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { addProviderNode, addReplica, newPayout, setUpEnv } from './_env.js';
import { replicaKey, report, signReport } from './_usage.js';

test('a report is folded for the ProviderNode the cache holds, and refused when the cache does not hold it', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-pncache' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(31);
  await addReplica(env, pn, 'r-0', key);

  // An empty cache: the ProviderNode exists in the apiserver, but no list is made to find it.
  const uncached = new UsageIngest({ client: env.client, providerNodes: new Store<ProviderNode & KubeObject>() });
  const refused = await uncached.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 2 })));
  t.false(refused.accepted);
  t.is(refused.reasons[0]?.code, 'UNKNOWN_PROVIDER');
  t.regex(refused.reasons[0]!.message, /which no ProviderNode \(in the operator's cache\) names/);

  const folded = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 10, gen: 2 })));
  t.true(folded.accepted, JSON.stringify(folded.reasons));
  t.is(folded.providerNode, pn);
  t.is(folded.delta?.units, 12n);
});

test('a cached ProviderNode that no longer names the Pod\'s Node, or a Node two ProviderNodes name, is refused', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-pncache2' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(32);
  await addReplica(env, pn, 'r-0', key);
  const live = (await env.client.get<ProviderNode & KubeObject>(ProviderNodes, pn))!;

  // A stale cache entry (spec.nodeName is immutable, so: a ProviderNode deleted and made again under the
  // name for another Node): the cache says it names the Pod's Node, the apiserver's object does not.
  const other = await addProviderNode(env, newPayout());
  const stale = new Store<ProviderNode & KubeObject>();
  stale.put({ ...live, metadata: { ...live.metadata, name: other, uid: 'stale' } });
  const moved = await new UsageIngest({ client: env.client, providerNodes: stale }).ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 1, gen: 1 })));
  t.is(moved.reasons[0]?.code, 'UNKNOWN_PROVIDER');
  t.regex(moved.reasons[0]!.message, /no longer names Node/);

  const twice = new Store<ProviderNode & KubeObject>();
  twice.put(live);
  twice.put({ ...live, metadata: { ...live.metadata, name: `${pn}-twin`, uid: 'twin' } });
  const ambiguous = await new UsageIngest({ client: env.client, providerNodes: twice }).ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 1, gen: 1 })));
  t.is(ambiguous.reasons[0]?.code, 'UNKNOWN_PROVIDER');
  t.regex(ambiguous.reasons[0]!.message, /2 ProviderNodes name/);
});

test('right after start a report waits for the ProviderNode cache to sync instead of being refused', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-pncache3' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(33);
  await addReplica(env, pn, 'r-0', key);
  const live = (await env.client.get<ProviderNode & KubeObject>(ProviderNodes, pn))!;
  // A cache whose first list has not landed yet: it fills when waited for.
  let synced = false;
  const cache = Object.assign(new Store<ProviderNode & KubeObject>(), {
    hasSynced: () => synced,
    waitForSync: async () => {
      await new Promise((r) => setTimeout(r, 50));
      cache.put(live);
      synced = true;
    },
  });
  const r = await new UsageIngest({ client: env.client, providerNodes: cache }).ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 4, gen: 1 })));
  t.true(r.accepted, JSON.stringify(r.reasons));
  t.is(r.providerNode, pn);
});
