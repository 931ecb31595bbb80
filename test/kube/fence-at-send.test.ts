// The leader fence is checked at the moment a write leaves, not only when it is asked for. Between the
// two a write can wait: in the client's rate limit (seconds, when a leader is busy) or for its connection
// (a TCP connect and a TLS handshake). A leader deposed meanwhile, or paused meanwhile by SIGSTOP or a long
// GC, must send nothing it checked before; a write let out late lands after a rival's takeover.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import test from 'ava';
import { kubeConfigFor } from './plain-kubeconfig.js';
import { EventRecorder } from '../../operator/src/kube/events.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NotLeaderError, type Fence } from '../../operator/src/kube/leader-election.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import { ConfigMaps } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { selfSignedTls } from '../../operator/src/attestation/service/https-server.js';


/** A fence the test opens and closes. */
function switchableFence(): Fence & { open: boolean } {
  return {
    open: true,
    assertLeader() { if (!this.open) throw new NotLeaderError('the test closed the fence'); },
  };
}

/** An API server that records every request it gets and answers each with the object sent (or an empty one). */
function recordingApi(server: Server, seen: string[], connections: { count: number }) {
  server.on('connection', () => { connections.count++; });
  server.on('request', (req: IncomingMessage, res) => {
    seen.push(`${req.method} ${req.url?.split('?')[0]}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString() || '{"metadata":{"name":"x"}}';
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
}

const stamp = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'a' }, data: { k: 'v' } });

test('a write waiting in the client rate limit when the fence closes is never sent, and not counted as a request', async (t) => {
  const seen: string[] = [];
  const connections = { count: 0 };
  const server = createServer();
  recordingApi(server, seen, connections);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const metrics = new OperatorMetrics();
  // One request at once, then one every 400 ms.
  const rest = new RestClient(kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { qps: 2.5, burst: 1, metrics });
  t.teardown(() => rest.close());
  const fence = switchableFence();
  const client = new KubeClient(rest, fence);

  await client.apply(ConfigMaps, stamp('first'));
  const queued = client.apply(ConfigMaps, stamp('second')); // passes the fence now, then waits ~400 ms for a token
  await new Promise((r) => setTimeout(r, 50));
  fence.open = false;
  await t.throwsAsync(queued, { instanceOf: NotLeaderError });
  t.deepEqual(seen, ['PATCH /api/v1/namespaces/a/configmaps/first'], 'the queued write never reached the server');
  const counted = (await metrics.apiRequests.get()).values.map((v) => `${v.labels.verb} ${v.labels.code} ${v.value}`);
  t.deepEqual(counted, ['PATCH 200 1'], 'a write refused before it left is not counted as a request with no answer');

  // Reopened, writes and reads go out as before; a kept-alive connection is reused without waiting.
  fence.open = true;
  await client.apply(ConfigMaps, stamp('third'));
  await client.get(ConfigMaps, 'third', 'a');
  t.deepEqual(seen.slice(1), ['PATCH /api/v1/namespaces/a/configmaps/third', 'GET /api/v1/namespaces/a/configmaps/third']);
});

test('an Event waiting in the client rate limit when the fence closes is never sent, and the recorder says so as for any refused write', async (t) => {
  const seen: string[] = [];
  const server = createServer();
  recordingApi(server, seen, { count: 0 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const rest = new RestClient(kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { qps: 2.5, burst: 1 });
  t.teardown(() => rest.close());
  const fence = switchableFence();
  const events = new EventRecorder({ client: rest, fence, instance: 'test' });
  const regarding = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'a', uid: 'u' } };

  t.true(await events.record(regarding, { type: 'Normal', reason: 'First', action: 'Test', message: 'sent' }));
  const queued = events.record(regarding, { type: 'Normal', reason: 'Second', action: 'Test', message: 'queued' });
  await new Promise((r) => setTimeout(r, 50));
  fence.open = false;
  await t.throwsAsync(queued, { instanceOf: NotLeaderError }, 'thrown like the fence\'s refusal before the wait, not logged as a failed Event');
  t.deepEqual(seen, ['POST /apis/events.k8s.io/v1/namespaces/a/events']);
});

test('a write whose TLS handshake is still under way when the fence closes is never sent', async (t) => {
  const seen: string[] = [];
  const connections = { count: 0 };
  const server = createHttpsServer(await selfSignedTls());
  recordingApi(server as unknown as Server, seen, connections);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const apiPort = (server.address() as AddressInfo).port;
  // A TCP relay that accepts at once but passes nothing on until released: the client's TCP connect
  // completes and its TLS handshake waits, as over a slow or congested link.
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let accepted = 0;
  const relay = net.createServer((client) => {
    accepted++;
    client.pause();
    void released.then(() => {
      const upstream = net.connect(apiPort, '127.0.0.1', () => { client.pipe(upstream).pipe(client); client.resume(); });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  t.teardown(() => { relay.close(); server.closeAllConnections(); server.close(); });
  const rest = new RestClient(kubeConfigFor(`https://127.0.0.1:${(relay.address() as AddressInfo).port}`));
  t.teardown(() => rest.close());
  const fence = switchableFence();
  const client = new KubeClient(rest, fence);

  const write = client.apply(ConfigMaps, stamp('during-handshake'));
  while (accepted === 0) await new Promise((r) => setTimeout(r, 10));
  fence.open = false;
  release();
  await t.throwsAsync(write, { instanceOf: NotLeaderError });
  // Give a write that did leave time to arrive.
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(seen, [], 'nothing reached the server');

  // With the fence open the same path (relay, handshake) delivers the write.
  fence.open = true;
  await client.apply(ConfigMaps, stamp('after'));
  t.deepEqual(seen, ['PATCH /api/v1/namespaces/a/configmaps/after']);
});
