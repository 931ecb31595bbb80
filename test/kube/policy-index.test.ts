// ProviderNodes by the AttestationPolicy they are verified against: the index the ProviderNode controller
// re-queues a policy's users from and the AttestationPolicy controller counts them with. It must agree
// with policyNameOf (a node without a policyRef uses the default policy), and the two controllers sharing
// one ProviderNode cache must get one index, not an error for defining it twice.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { policyNameOf } from '../../operator/src/controllers/providernode/plan.js';
import { BY_POLICY, policyNameIndexer } from '../../operator/src/kube/indexes.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { Store } from '../../operator/src/kube/store.js';

type PN = ProviderNode & KubeObject;

function providerNode(name: string, policy: string | undefined, rv = '1'): PN {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name, resourceVersion: rv },
    spec: { nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: 1 }, payoutAddress: 'x', ...(policy !== undefined ? { policyRef: { name: policy } } : {}) },
  } as PN;
}

test('a node without a policyRef is counted under the default policy, as policyNameOf says', (t) => {
  const store = new Store<PN>().addIndexer(BY_POLICY, policyNameIndexer('default'));
  store.put(providerNode('a', undefined));
  store.put(providerNode('b', ''));
  store.put(providerNode('c', 'strict'));
  t.is(store.countByIndex(BY_POLICY, 'default'), 2);
  t.is(store.countByIndex(BY_POLICY, 'strict'), 1);
  for (const pn of store.list()) t.deepEqual(store.byIndex(BY_POLICY, policyNameOf(pn, 'default')).map((n) => n.metadata.name).includes(pn.metadata.name), true);
});

test('a node that changes its policyRef moves from one policy\'s count to the other\'s', (t) => {
  const store = new Store<PN>().addIndexer(BY_POLICY, policyNameIndexer('default'));
  store.put(providerNode('a', 'strict'));
  store.put(providerNode('a', 'lenient', '2'));
  t.is(store.countByIndex(BY_POLICY, 'strict'), 0);
  t.deepEqual(store.byIndex(BY_POLICY, 'lenient').map((n) => n.metadata.name), ['a']);
  store.remove(providerNode('a', 'lenient', '3'));
  t.is(store.countByIndex(BY_POLICY, 'lenient'), 0);
});

test('two controllers asking for the index with the same default share it; another default is refused', (t) => {
  const store = new Store<PN>();
  store.addIndexer(BY_POLICY, policyNameIndexer('default'));
  t.notThrows(() => store.addIndexer(BY_POLICY, policyNameIndexer('default')));
  t.throws(() => store.addIndexer(BY_POLICY, policyNameIndexer('other')), { message: /already defined differently/ });
});
