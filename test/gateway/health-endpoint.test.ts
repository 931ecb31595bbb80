// The sidecar's plain-HTTP readiness port (attester --health-port): GET /health is 200 exactly when the
// inference server's own /health is 200 (503 while it loads, or when it does not answer), any other path
// or method is 404 and never reaches the server. kubelet probes it instead of the RA-TLS port, whose
// certificate its Go TLS client cannot parse.
import test from 'ava';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthEndpoint } from '../../attester/src/gateway/health-endpoint.js';

function get(port: number, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET /health follows the server\'s /health; nothing else is forwarded', async (t) => {
  let serverStatus = 503;
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(req.url === '/health' ? serverStatus : 200).end();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const health = new HealthEndpoint({ upstreamPort });
  const { port } = await health.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await health.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  t.is(await get(port, '/health'), 503, 'the server is loading');
  serverStatus = 200;
  t.is(await get(port, '/health'), 200);
  t.is(await get(port, '/health?verbose=1'), 200);
  t.is(await get(port, '/v1/chat/completions', 'POST'), 404);
  t.is(await get(port, '/v1/models'), 404);
  t.is(await get(port, '/health', 'POST'), 404);
  t.deepEqual(seen, ['GET /health', 'GET /health', 'GET /health'], 'only /health reached the server');
});

test('a server that does not answer is not healthy (503)', async (t) => {
  // A port nothing listens on: take one, then close it.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const upstreamPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const health = new HealthEndpoint({ upstreamPort });
  const { port } = await health.listen(0, '127.0.0.1');
  t.teardown(() => health.close());
  t.is(await get(port, '/health'), 503);
});
