// Which of a node's Pods the ProviderNode controller counts as replicas (allocated on its status, evicted
// at quarantine): only Pods their InferencePool controls and names, never a Pod that merely carries the
// pool label.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { API_VERSION } from '../../operator/src/api/index.js';
import { replicasAmong } from '../../operator/src/controllers/providernode/reconciler.js';
import { LABEL_POOL } from '../../operator/src/marks.js';

const GPU = 'nvidia.com/gpu';
const poolRef = (name = 'llama') => ({ apiVersion: API_VERSION, kind: 'InferencePool', name, uid: 'u-1', controller: true, blockOwnerDeletion: true });

function pod(name: string, meta: Partial<NonNullable<V1Pod['metadata']>> = {}, phase = 'Running'): V1Pod {
  return {
    metadata: { namespace: 'ns', name, uid: `uid-${name}`, labels: { [LABEL_POOL]: 'llama' }, ownerReferences: [poolRef()], ...meta },
    spec: { nodeName: 'n1', containers: [{ name: 'server', resources: { limits: { [GPU]: '2' }, requests: { [GPU]: '2' } } }] },
    status: { phase },
  };
}

const names = (pods: V1Pod[]) => replicasAmong(pods, GPU).map((r) => r.name);

test('a Pod its InferencePool controls and names as a replica is counted with its GPUs', (t) => {
  t.deepEqual(replicasAmong([pod('llama-0')], GPU), [{ namespace: 'ns', name: 'llama-0', uid: 'uid-llama-0', gpus: 2, terminating: false }]);
});

test('a Pod that only carries the pool label is not a replica', (t) => {
  t.deepEqual(names([pod('llama-1', { ownerReferences: undefined })]), []);
});

test('a Pod controlled by something else, or by another pool, is not a replica', (t) => {
  t.deepEqual(names([
    pod('llama-2', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'llama', uid: 'r', controller: true }] }),
    pod('llama-3', { ownerReferences: [poolRef('other')] }),
    pod('llama-4', { ownerReferences: [{ ...poolRef(), apiVersion: 'example.com/v1' }] }),
    pod('llama-5', { ownerReferences: [{ ...poolRef(), controller: false }] }),
    pod('llama-6', { ownerReferences: [poolRef(), { ...poolRef(), uid: 'u-2' }] }),
  ]), []);
});

test('a Pod not named <pool>-<index> is not a replica, even with the owner reference', (t) => {
  t.deepEqual(names([pod('llama-x'), pod('llama-01'), pod('mistral-0'), pod('llama')]), []);
});

test('finished Pods are not counted; a terminating replica is, marked terminating', (t) => {
  t.deepEqual(names([pod('llama-0', {}, 'Succeeded'), pod('llama-1', {}, 'Failed')]), []);
  const [r] = replicasAmong([pod('llama-2', { deletionTimestamp: new Date() })], GPU);
  t.true(r!.terminating);
});
