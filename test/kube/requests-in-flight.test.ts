// Finding: the REST client's only bound was a rate (QPS/burst), so the requests it had open grew with the
// apiserver's latency: under the chaos bench at 8,000 replicas, with kube-apiserver answering in seconds,
// the attestation service held 1,376 connections to it, each a request the apiserver worked on at once,
// and some hundreds of them ended in a 30 s timeout, a reset or a TLS handshake cut short, their work
// wasted and done again. Now each client keeps at most maxInFlight requests open (watches apart, which
// stay open by design); the rest wait their turn in the client, in order, and their timeout starts when
// they are sent.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { kubeConfigFor } from './plain-kubeconfig.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import { RestClient } from '../../operator/src/kube/rest.js';

/** A server that answers each request after `delayMs`, counting how many it holds at once and its connections. */
async function slowApi(t: { teardown: (fn: () => void) => void }, delayMs: number) {
  const seen = { open: 0, most: 0, connections: 0, order: [] as string[] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.open++;
    seen.most = Math.max(seen.most, seen.open);
    seen.order.push(req.url ?? '');
    setTimeout(() => {
      seen.open--;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, delayMs);
  });
  server.on('connection', () => { seen.connections++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('at most maxInFlight requests are open at once; the others are sent in the order asked, and all are answered', async (t) => {
  const api = await slowApi(t, 50);
  const metrics = new OperatorMetrics();
  const rest = new RestClient(kubeConfigFor(api.url), { qps: 10_000, burst: 10_000, maxInFlight: 8, metrics });
  t.teardown(() => rest.close());
  const paths = Array.from({ length: 100 }, (_, i) => `/api/v1/namespaces/a/configmaps/c${i}`);
  const answers = await Promise.all(paths.map((p) => rest.request('GET', p)));
  t.is(answers.length, 100);
  t.is(api.seen.most, 8);
  t.true(api.seen.connections <= 8, `${api.seen.connections} connections`);
  t.deepEqual(api.seen.order, paths);
  // The 92 that waited are counted (chrysalis_kube_requests_waited_total).
  t.is((await metrics.apiRequestsWaited.get()).values[0]?.value, 92);
});

test('a request waiting for its turn is not timed out by the wait, and one aborted while waiting is never sent', async (t) => {
  const api = await slowApi(t, 300);
  // Each request may take 500 ms once sent; waiting behind two others takes longer than that.
  const rest = new RestClient(kubeConfigFor(api.url), { qps: 10_000, burst: 10_000, maxInFlight: 1, timeoutMs: 500 });
  t.teardown(() => rest.close());
  const abort = new AbortController();
  const first = rest.request('GET', '/api/v1/namespaces/a/configmaps/first');
  const aborted = rest.request('GET', '/api/v1/namespaces/a/configmaps/aborted', { signal: abort.signal });
  const second = rest.request('GET', '/api/v1/namespaces/a/configmaps/second');
  const third = rest.request('GET', '/api/v1/namespaces/a/configmaps/third');
  abort.abort();
  await t.throwsAsync(aborted, { name: 'AbortError' });
  await Promise.all([first, second, third]);
  // One at a time: the third waited 600 ms in all, longer than its 500 ms timeout, and was answered.
  t.is(api.seen.most, 1);
  t.deepEqual(api.seen.order, ['/api/v1/namespaces/a/configmaps/first', '/api/v1/namespaces/a/configmaps/second', '/api/v1/namespaces/a/configmaps/third']);
});

test('watches do not count against the bound: a client with its bound taken by watches still answers requests', async (t) => {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    if (req.url?.includes('watch=1')) { res.writeHead(200, { 'content-type': 'application/json' }); res.write(''); held.push(res); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const r of held) r.end(); server.closeAllConnections(); server.close(); });
  const rest = new RestClient(kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { qps: 10_000, burst: 10_000, maxInFlight: 2 });
  t.teardown(() => rest.close());
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  for (const kind of ['pods', 'nodes', 'services']) void rest.watch(`/api/v1/${kind}`, {}, () => {}, stop.signal).catch(() => undefined);
  while (held.length < 3) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(await rest.request('GET', '/api/v1/namespaces/a/configmaps/x'), {});
});
