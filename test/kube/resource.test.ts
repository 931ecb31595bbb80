import test from 'ava';
import { cacheKey, ConfigMaps, Leases, Nodes, objectKey, parseObjectKey, resourcePath } from '../../operator/src/kube/resource.js';

test('request paths follow the core and named-group URL shapes', (t) => {
  t.is(resourcePath(ConfigMaps, 'ns', 'a'), '/api/v1/namespaces/ns/configmaps/a');
  t.is(resourcePath(ConfigMaps), '/api/v1/configmaps');
  t.is(resourcePath(Leases, 'kube-system', 'l'), '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l');
  t.is(resourcePath(Nodes, undefined, 'n', 'status'), '/api/v1/nodes/n/status');
});

test('a namespaced object without a namespace and a cluster-scoped one with a namespace are refused', (t) => {
  t.throws(() => resourcePath(ConfigMaps, undefined, 'a'), { message: /needs a namespace/ });
  t.throws(() => resourcePath(Nodes, 'ns', 'n'), { message: /cluster-scoped/ });
});

test('work-queue keys round-trip, with an empty namespace for cluster-scoped objects', (t) => {
  t.is(objectKey('ProviderNode', undefined, 'gpu-1'), 'ProviderNode//gpu-1');
  t.deepEqual(parseObjectKey('ProviderNode//gpu-1'), { kind: 'ProviderNode', namespace: undefined, name: 'gpu-1' });
  t.deepEqual(parseObjectKey(objectKey('InferencePool', 'team', 'llama')), { kind: 'InferencePool', namespace: 'team', name: 'llama' });
  t.throws(() => parseObjectKey('team/llama'));
  t.is(cacheKey('ns', 'a'), 'ns/a');
  t.is(cacheKey(undefined, 'a'), 'a');
});
