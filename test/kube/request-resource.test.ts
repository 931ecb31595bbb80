// The request counter's resource label: plural and subresource, never a name or namespace.
import test from 'ava';
import { resourceOfPath, verbOfRequest } from '../../operator/src/kube/request-resource.js';
import { Nodes, Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';

test('the resource of a request path is its plural and subresource', (t) => {
  t.is(resourceOfPath(resourcePath(Nodes, undefined, 'gpu-1')), 'nodes');
  t.is(resourceOfPath(resourcePath(Nodes)), 'nodes');
  t.is(resourceOfPath(resourcePath(Pods, 'team-a', 'pool-0', 'binding')), 'pods/binding');
  t.is(resourceOfPath(resourcePath(Pods, 'team-a')), 'pods');
  t.is(resourceOfPath(resourcePath(ProviderNodes, undefined, 'pn-1', 'status')), 'providernodes/status');
  t.is(resourceOfPath('/apis/events.k8s.io/v1/namespaces/default/events'), 'events');
  t.is(resourceOfPath('/api/v1/namespaces/team-a'), 'namespaces');
  t.is(resourceOfPath('/api/v1/namespaces'), 'namespaces');
  t.is(resourceOfPath('/api/v1/nodes/gpu-1?fieldManager=x'), 'nodes');
  t.is(resourceOfPath('/healthz'), 'other');
});

test('a GET of a collection counts as LIST, a GET of one object as GET; other methods stay as they are', (t) => {
  t.is(verbOfRequest('GET', resourcePath(ProviderNodes)), 'LIST');
  t.is(verbOfRequest('GET', `${resourcePath(Pods, 'team-a')}?labelSelector=chrysalis.dev%2Fpool&limit=500`), 'LIST');
  t.is(verbOfRequest('GET', '/api/v1/namespaces'), 'LIST');
  t.is(verbOfRequest('GET', resourcePath(ProviderNodes, undefined, 'pn-1')), 'GET');
  t.is(verbOfRequest('GET', resourcePath(Pods, 'team-a', 'pool-0')), 'GET');
  t.is(verbOfRequest('GET', resourcePath(ProviderNodes, undefined, 'pn-1', 'status')), 'GET');
  t.is(verbOfRequest('GET', '/api/v1/namespaces/team-a'), 'GET');
  t.is(verbOfRequest('GET', '/healthz'), 'GET');
  t.is(verbOfRequest('PATCH', resourcePath(ProviderNodes, undefined, 'pn-1', 'status')), 'PATCH');
  t.is(verbOfRequest('POST', resourcePath(Pods, 'team-a')), 'POST');
});
