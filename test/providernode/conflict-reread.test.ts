// Finding (chaos bench, 2,000 nodes, 4,000 replicas): in one minute 1,471 of the ProviderNode controller's
// 1,794 status writes were refused with 409. Each host's status is also written by its replicas'
// attestations and by usage folds, and a refused key waited for the informer to show the newer object —
// by which time, on a loaded apiserver, another writer had often written again. A refused write is now
// planned once more from the apiserver's object; refused again, the key waits for the watch event as
// before, so a reconcile never loops.
//
// Against the real apiserver; the reconciler reads from caches the test fills by hand, so "another writer
// wrote after the copy" is exact rather than a matter of timing.
import test, { type ExecutionContext } from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { isConflict } from '../../operator/src/kube/rest.js';
import { getProviderNode, nodeSetup, podOn, type NodeSetup } from '../attestation-service/_cluster.js';
import { controllerOnCaches } from './_controller-on-caches.js';

/** A write by another of the host's writers (metering's field, its manager), moving the resourceVersion on. */
const otherWriterWrites = (s: NodeSetup, cursors: unknown[]) => s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
  contentType: 'application/merge-patch+json', query: { fieldManager: 'chrysalis-metering' },
  body: { status: { usageCursors: cursors } },
});

const cursor = (pod: string) => ({ pod: `tenant/${pod}`, bootId: 'b0b94eaf-3d54-4e88-8fa9-411a000f8d99', sequence: 1 });

/**
 * A node offering one GPU, the controller's first write, a replica taking the GPU seen by the Pod cache,
 * and a write by another writer the ProviderNode cache does not show. `alsoAfterRead` makes another
 * write land right after the controller's read of the apiserver. Returns the reconcile's outcome and calls.
 */
async function staleAfterAnotherWriter(t: ExecutionContext, alsoAfterRead: boolean) {
  const s = await nodeSetup(t);
  // With alsoAfterRead, another write lands once the first write has been refused and the object read again.
  let writeAfterRead = false;
  const { pods, calls, reconcile, refresh } = await controllerOnCaches(s, {
    afterRead: async () => { if (writeAfterRead) await otherWriterWrites(s, [cursor('a'), cursor('b')]); },
  });

  // The controller's first write, from caches filled just now (again if kube-controller-manager wrote
  // the Node meanwhile: not this scenario).
  for (let attempt = 1; ; attempt++) {
    await refresh();
    const first = await reconcile().then(() => undefined, (err: unknown) => err);
    if (first === undefined) break;
    if (!isConflict(first) || attempt >= 3) throw first;
  }
  // The caches catch up with that write; then metering folds a report the ProviderNode cache has not shown.
  await refresh();
  await otherWriterWrites(s, [cursor('a')]);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  pods.put({ ...pod, spec: { ...pod.spec!, containers: pod.spec!.containers.map((c) => ({ ...c, resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } })) } } as V1Pod & KubeObject);
  writeAfterRead = alsoAfterRead;
  calls.length = 0;
  const outcome = await reconcile().then(() => undefined, (err: unknown) => err);
  return { s, outcome, calls };
}

test('a status write refused because another writer wrote since the copy is planned again from the apiserver\'s object and accepted', async (t) => {
  const { s, outcome, calls } = await staleAfterAnotherWriter(t, false);
  t.is(outcome, undefined, String(outcome));
  t.deepEqual(calls, ['apply ProviderNode status: 409', 'get ProviderNode', 'apply ProviderNode status']);
  const pn = await getProviderNode(s.rest, s.node);
  t.is(pn.status?.allocated?.gpus, 1, 'the replica\'s GPU is counted');
  t.deepEqual(pn.status?.usageCursors, [cursor('a')], 'the other writer\'s field is as it wrote it');
});

test('refused again after that read, the reconcile fails with the 409 and leaves the key to the watch event: one read, no loop', async (t) => {
  const { s, outcome, calls } = await staleAfterAnotherWriter(t, true);
  t.true(isConflict(outcome), String(outcome));
  t.deepEqual(calls, ['apply ProviderNode status: 409', 'get ProviderNode', 'apply ProviderNode status: 409']);
  const pn = await getProviderNode(s.rest, s.node);
  t.is(pn.status?.allocated?.gpus ?? 0, 0, 'nothing of the refused plans was written');
  t.deepEqual(pn.status?.usageCursors, [cursor('a'), cursor('b')]);
});
