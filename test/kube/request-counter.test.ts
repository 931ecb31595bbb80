// The request counter (chrysalis_kube_requests_total): a LIST is told from a GET, and a request that got
// no answer is counted with code "none" instead of not at all, so an informer whose relist times out shows.
// And a request's own timeout, where it gives one, replaces the client's (an informer's LIST pages).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { kubeConfigFor } from './plain-kubeconfig.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import { RestClient } from '../../operator/src/kube/rest.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}


test('requests are counted by verb (LIST for a collection), resource and code; one with no answer as code none', async (t) => {
  // Answers every request at once, except a LIST of ProviderNodes, which it never answers.
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/apis/chrysalis.dev/v1alpha1/providernodes?') || req.url === '/apis/chrysalis.dev/v1alpha1/providernodes') return;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}');
  });
  const url = await listen(server);
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const metrics = new OperatorMetrics();
  const rest = new RestClient(kubeConfigFor(url), { metrics, timeoutMs: 300 });
  t.teardown(() => rest.close());

  await rest.request('GET', '/api/v1/namespaces/a/pods');
  await rest.request('GET', '/api/v1/namespaces/a/pods/p-0');
  await t.throwsAsync(rest.request('GET', '/apis/chrysalis.dev/v1alpha1/providernodes', { query: { limit: 500 } }), { message: /no answer within 300 ms/ });

  const counted = (await metrics.apiRequests.get()).values.map((v) => `${v.labels.verb} ${v.labels.resource} ${v.labels.code} ${v.value}`).sort();
  t.deepEqual(counted, ['GET pods 200 1', 'LIST pods 200 1', 'LIST providernodes none 1']);
});

test('a request that gives its own timeout waits that long, in place of the client\'s', async (t) => {
  // Answers every request after 400 ms.
  const server = createServer((_req, res) => { setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}'), 400); });
  const url = await listen(server);
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const rest = new RestClient(kubeConfigFor(url), { timeoutMs: 100 });
  t.teardown(() => rest.close());
  await t.throwsAsync(rest.request('GET', '/api/v1/namespaces/a/pods'), { message: /no answer within 100 ms/ });
  t.deepEqual(await rest.request('GET', '/api/v1/namespaces/a/pods', { timeoutMs: 5_000 }), { items: [] });
});
