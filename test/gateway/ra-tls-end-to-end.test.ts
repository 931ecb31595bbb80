// A simulated replica serves RA-TLS (attester/src/gateway/) in front of a tiny OpenAI-compatible server on
// 127.0.0.1, and the client library (cli/src/client/) verifies it before sending a prompt: the verified
// replica answers (plain and streamed, the stream passing through metering's tap byte for byte), and a
// replica whose certificate key is not the key its evidence binds, whose evidence the policy does not
// accept, or that answers the client's nonce with old evidence gets nothing: the server behind it sees
// zero requests.
import test from 'ava';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import type { UsageHooks } from '../../attester/src/gateway/usage-hooks.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { chatCompletion, connectAttested, ReplicaRefused } from '../../cli/src/client/index.js';
import type { EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const tee = await SimulatedTee.create({ gpus: 1 });
const policy = tee.policy();
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

function evidenceMaker(identity: AttesterIdentity) {
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'pool-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  return async (nonce: Uint8Array): Promise<EvidenceBundle> => {
    const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
    return bundle;
  };
}

/** A fake OpenAI-compatible server: counts every request it sees; streams three words when asked. */
async function fakeModelServer(holdAfterFirstWord?: Promise<void>): Promise<{ server: Server; port: number; requests: { path: string; body: string }[] }> {
  const requests: { path: string; body: string }[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    requests.push({ path: req.url ?? '', body });
    const request = JSON.parse(body || '{}') as { stream?: boolean };
    if (request.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const word of ['attested ', 'hello ', 'world']) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: word }, finish_reason: null }] })}\n\n`);
        if (word === 'attested ' && holdAfterFirstWord) await holdAfterFirstWord;
        await new Promise((r) => setTimeout(r, 5));
      }
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    const answer = JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'attested hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)) });
    res.end(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

/** Metering stand-in: records what the gateway handed it (the counting itself is attester/src/usage/'s). */
function recordingUsage() {
  const prepared: string[] = [];
  const taps: { path: string; bytes: Buffer[]; ended: number }[] = [];
  const hooks: UsageHooks = {
    prepareRequest(path, body) {
      prepared.push(path);
      return body;
    },
    createUsageTap(path) {
      const tap = { path, bytes: [] as Buffer[], ended: 0 };
      taps.push(tap);
      return { write: (chunk: Buffer) => void tap.bytes.push(Buffer.from(chunk)), end: () => void tap.ended++ };
    },
  };
  return { hooks, prepared, taps };
}

async function replica(t: { teardown(fn: () => unknown): void }, options: { identity?: AttesterIdentity; makeEvidence?: (nonce: Uint8Array) => Promise<EvidenceBundle>; holdAfterFirstWord?: Promise<void> } = {}) {
  const upstream = await fakeModelServer(options.holdAfterFirstWord);
  const identity = options.identity ?? AttesterIdentity.generate();
  const usage = recordingUsage();
  const gateway = new RaTlsGateway({ identity, makeEvidence: options.makeEvidence ?? evidenceMaker(identity), upstreamPort: upstream.port, usage: usage.hooks });
  const { port } = await gateway.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await gateway.close();
    upstream.server.close();
  });
  return { port, upstream, usage, identity, gateway };
}

test('the client verifies a simulated replica over RA-TLS and gets its answer; metering saw the request and every byte', async (t) => {
  const r = await replica(t);
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  t.teardown(() => connection.close());
  t.true(connection.verdict.verified);
  t.true(connection.verdict.freshEvidence);
  t.is(connection.verdict.tee, 'simulated');
  t.is(connection.verdict.publicKey, r.identity.publicKeyHex);
  t.is(r.upstream.requests.length, 0, 'verification alone sends nothing to the model server');

  const answer = await chatCompletion(connection, { model: 'tiny', prompt: 'say hello', maxTokens: 8 });
  t.is(answer.content, 'attested hello');
  t.deepEqual(answer.usage, { promptTokens: 4, completionTokens: 2 });
  t.is(r.upstream.requests.length, 1);
  t.is(r.upstream.requests[0]!.path, '/v1/chat/completions');
  t.like(JSON.parse(r.upstream.requests[0]!.body), { model: 'tiny', max_tokens: 8, messages: [{ role: 'user', content: 'say hello' }] });
  t.deepEqual(r.usage.prepared, ['/v1/chat/completions']);
  t.is(r.usage.taps.length, 1);
  t.is(r.usage.taps[0]!.ended, 1);
  t.regex(Buffer.concat(r.usage.taps[0]!.bytes).toString('utf8'), /"completion_tokens":2/);
});

test('a streamed answer arrives piece by piece through the proxy, and the tap sees exactly the streamed bytes', async (t) => {
  const r = await replica(t);
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  t.teardown(() => connection.close());
  const pieces: string[] = [];
  const answer = await chatCompletion(connection, { model: 'tiny', prompt: 'stream please', stream: true }, (p) => pieces.push(p));
  t.deepEqual(pieces, ['attested ', 'hello ', 'world']);
  t.is(answer.content, 'attested hello world');
  t.deepEqual(answer.usage, { promptTokens: 4, completionTokens: 3 });
  const tapped = Buffer.concat(r.usage.taps[0]!.bytes).toString('utf8');
  t.true(tapped.endsWith('data: [DONE]\n\n'));
  t.is(tapped.split('data: ').length - 1, 5);
  t.is(r.usage.taps[0]!.ended, 1);
});

test('streaming is not buffered: the first piece reaches the client while the server still holds the rest', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const r = await replica(t, { holdAfterFirstWord: held });
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  t.teardown(() => connection.close());
  const pieces: string[] = [];
  // The server writes the second word only once the client has the first: a proxy that buffered the
  // response (or the tap) would never deliver it, and the test would time out.
  const answer = await Promise.race([
    chatCompletion(connection, { model: 'tiny', prompt: 'stream', stream: true }, (p) => {
      pieces.push(p);
      release();
    }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the first piece never arrived: the response was buffered')), 10_000)),
  ]);
  t.is(pieces[0], 'attested ');
  t.is(answer.content, 'attested hello world');
});

test('a verified connection stays usable after idling longer than node\'s default keep-alive (5 s)', async (t) => {
  const r = await replica(t);
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  t.teardown(() => connection.close());
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  const answer = await chatCompletion(connection, { model: 'tiny', prompt: 'after a pause' });
  t.is(answer.content, 'attested hello');
});

test('a client that leaves mid-stream ends the tap once and the request to the server is cut', async (t) => {
  const held = new Promise<void>(() => undefined); // the server never writes past the first word
  const r = await replica(t, { holdAfterFirstWord: held });
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  const res = await connection.request('POST', '/v1/chat/completions', JSON.stringify({ model: 'tiny', stream: true, messages: [] }), { 'content-type': 'application/json' });
  await new Promise<void>((resolve) => res.once('data', () => resolve()));
  connection.close();
  for (let i = 0; i < 100 && r.usage.taps[0]!.ended === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(r.usage.taps[0]!.ended, 1);
  t.regex(Buffer.concat(r.usage.taps[0]!.bytes).toString('utf8'), /attested /);
});

test('a replica whose certificate key is not the key its evidence binds gets nothing (BINDING_MISMATCH)', async (t) => {
  // The evidence is genuine (simulated TEE) for the attested key; the server's TLS key is another one,
  // claiming that evidence as its own.
  const attested = AttesterIdentity.generate();
  const impostor = AttesterIdentity.generate();
  const genuine = evidenceMaker(attested);
  const r = await replica(t, { identity: impostor, makeEvidence: async (nonce) => ({ ...(await genuine(nonce)), publicKey: impostor.publicKeyHex }) });
  const error = await t.throwsAsync(connectAttested({ host: '127.0.0.1', port: r.port, policy }), { instanceOf: ReplicaRefused });
  t.is(error!.code, 'BINDING_MISMATCH');
  t.false(error!.verdict.verified);
  t.is(r.upstream.requests.length, 0);
  t.is(r.usage.prepared.length, 0);
});

test('a replica whose evidence the policy does not accept gets nothing (SIMULATED_NOT_ALLOWED)', async (t) => {
  const r = await replica(t);
  const error = await t.throwsAsync(connectAttested({ host: '127.0.0.1', port: r.port, policy: { ...policy, allowSimulated: false } }), { instanceOf: ReplicaRefused });
  t.is(error!.code, 'SIMULATED_NOT_ALLOWED');
  t.is(r.upstream.requests.length, 0);
});

test('a replica that answers the client nonce with evidence made for another nonce gets nothing', async (t) => {
  const identity = AttesterIdentity.generate();
  const honest = evidenceMaker(identity);
  let first: EvidenceBundle | undefined;
  // The certificate's evidence is right; every later answer replays it, relabelled with the asked nonce.
  const r = await replica(t, {
    identity,
    makeEvidence: async (nonce) => {
      if (!first) return (first = await honest(nonce));
      return { ...first, nonce: Buffer.from(nonce).toString('hex') };
    },
  });
  const error = await t.throwsAsync(connectAttested({ host: '127.0.0.1', port: r.port, policy }), { instanceOf: ReplicaRefused });
  t.is(error!.code, 'BINDING_MISMATCH');
  t.false(error!.verdict.freshEvidence);
  t.is(r.upstream.requests.length, 0);
});

test('the gateway refuses plain TLS 1.2 clients and serves only its own paths under /.well-known/chrysalis/', async (t) => {
  const r = await replica(t);
  const { connect } = await import('node:tls');
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: r.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    s.once('secureConnect', () => resolve('connected'));
    s.once('error', (err) => resolve(err.message));
  });
  t.not(refused, 'connected');
  const connection = await connectAttested({ host: '127.0.0.1', port: r.port, policy });
  t.teardown(() => connection.close());
  const res = await connection.request('GET', '/.well-known/chrysalis/other');
  t.is(res.statusCode, 404);
  res.resume();
  t.is(r.upstream.requests.length, 0);
});
