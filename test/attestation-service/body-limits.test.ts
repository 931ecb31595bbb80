// Finding: the service read up to 1 MiB of any request, from anyone, before asking who was calling.
// Now the HTTPS server refuses a declared length past the endpoint's limit before anything else,
// authenticates from the headers before reading the body, and cuts off a body that grows past the limit;
// the limits are what each endpoint's real requests need (16 GPUs of genuine evidence fit).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { Server } from 'node:https';
import { selfSignedTls, startHttpsServer } from '../../operator/src/attestation/service/https-server.js';
import { MAX_BODY_BYTES } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { attesterOf, fakeToken, harness, type Harness } from './_fake.js';

let h: Harness;
let server: Server;
let port: number;

test.before(async () => {
  h = harness();
  server = await startHttpsServer(h.service, await selfSignedTls(), 0, '127.0.0.1');
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
test.after.always(() => {
  server?.closeAllConnections();
  server?.close();
});

/** One request; `chunked` sends the body without a Content-Length. */
function send(path: string, token: string | undefined, body: Buffer, chunked = false, agent?: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, ...(agent ? { agent } : {}),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s)).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    // The server may answer and close before the whole body is sent.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    if (chunked) {
      for (let i = 0; i < body.length; i += 1024) req.write(body.subarray(i, i + 1024));
      req.end();
    } else req.end(body);
  });
}

test.serial('a request body declared past the endpoint\'s limit is refused before any TokenReview', async (t) => {
  const before = h.reviews();
  const big = Buffer.alloc(MAX_BODY_BYTES['/v1/challenge'] + 1, 0x20);
  const r = await send('/v1/challenge', fakeToken('gpu-1'), big);
  t.is(r.status, 413, r.body);
  t.is(h.reviews(), before, 'no TokenReview for a body the endpoint would never accept');
});

test.serial('an unauthenticated caller is refused from its headers, its body unread', async (t) => {
  const before = h.reviews();
  const r = await send('/v1/evidence', 'not-a-token', Buffer.from(JSON.stringify({ junk: randomBytes(64 * 1024).toString('base64') })));
  t.is(r.status, 401, r.body);
  t.is(h.reviews(), before);
});

test.serial('a chunked body that grows past the endpoint\'s limit is cut off with 413', async (t) => {
  const body = Buffer.from(JSON.stringify({ subject: { kind: 'node', nodeName: 'gpu-1' }, pad: 'x'.repeat(MAX_BODY_BYTES['/v1/challenge']) }));
  const r = await send('/v1/challenge', fakeToken('gpu-1'), body, true);
  t.is(r.status, 413, r.body);
});

test.serial('an authenticated request within the limit is served', async (t) => {
  const r = await send('/v1/challenge', fakeToken('gpu-1'), Buffer.from(JSON.stringify({ subject: { kind: 'node', nodeName: 'gpu-1' } })));
  t.is(r.status, 200, r.body);
});

test('genuine evidence for sixteen GPUs fits the evidence limit with room to spare', (t) => {
  const tee = SimulatedTee.create({ now: new Date('2026-01-01T00:00:00Z'), gpus: 16 });
  const nonce = new Uint8Array(randomBytes(32));
  const publicKey = new Uint8Array(randomBytes(32));
  const cpu = tee.snpReport({ nonce, publicKey });
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  const request = {
    subject: { kind: 'node', nodeName: 'gpu-1' }, nonce: Buffer.from(nonce).toString('hex'), publicKey: Buffer.from(publicKey).toString('hex'),
    cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
    gpus: tee.gpuReports({ nonce }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
  };
  const size = Buffer.byteLength(JSON.stringify(request));
  t.log(`16-GPU simulated evidence: ${size} bytes; limit ${MAX_BODY_BYTES['/v1/evidence']}`);
  t.true(size * 2 <= MAX_BODY_BYTES['/v1/evidence'], `${size} bytes`);
});

/** The harness's own answer to a TokenReview: the attester of the node the token names. */
const reviewedAsItsNode = (token: string) => attesterOf(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sub as string);

/** Sequential requests on one keep-alive agent; how many TLS connections the server accepted for them. */
async function connectionsFor(requests: Array<{ path: string; token: string; body: Buffer; chunked?: boolean }>): Promise<{ statuses: number[]; connections: number }> {
  let connections = 0;
  const count = () => void connections++;
  server.on('secureConnection', count);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const statuses: number[] = [];
    for (const r of requests) statuses.push((await send(r.path, r.token, r.body, r.chunked ?? false, agent)).status);
    return { statuses, connections };
  } finally {
    agent.destroy();
    server.off('secureConnection', count);
  }
}

// Finding: every refusal sent before the body was read closed the connection, "come back later" ones
// too: while kube-apiserver was unreachable (no TokenReview) each attester's retry paid a new TCP and TLS
// handshake, and so did this server.
test.serial('a 503 for want of a TokenReview keeps the connection; the caller comes back on it', async (t) => {
  h.behave(() => new Error('connect ECONNREFUSED 127.0.0.1:6443'));
  t.teardown(() => h.behave(reviewedAsItsNode));
  const body = Buffer.from(JSON.stringify({ subject: { kind: 'node', nodeName: 'gpu-1' } }));
  const { statuses, connections } = await connectionsFor([1, 2, 3].map((i) => ({ path: '/v1/challenge', token: fakeToken(`outage-${i}`), body })));
  t.deepEqual(statuses, [503, 503, 503]);
  t.is(connections, 1);
});

test.serial('refusals that are not "come back later" still close: a bad token, a chunked body refused unread', async (t) => {
  const body = Buffer.from(JSON.stringify({ subject: { kind: 'node', nodeName: 'gpu-1' } }));
  const bad = await connectionsFor([{ path: '/v1/challenge', token: 'not-a-token', body }, { path: '/v1/challenge', token: 'not-a-token', body }]);
  t.deepEqual(bad.statuses, [401, 401]);
  t.is(bad.connections, 2);
  h.behave(() => new Error('connect ECONNREFUSED 127.0.0.1:6443'));
  t.teardown(() => h.behave(reviewedAsItsNode));
  const chunked = await connectionsFor([1, 2].map((i) => ({ path: '/v1/challenge', token: fakeToken(`outage-chunked-${i}`), body, chunked: true })));
  t.deepEqual(chunked.statuses, [503, 503]);
  t.is(chunked.connections, 2, 'a body of undeclared length is not read to keep a connection');
});
