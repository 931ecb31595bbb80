// What the RA-TLS proxy refuses to forward: a body over its limit (413) and a request metering cannot
// take (500: tokens are never served uncounted). In both cases the server behind it sees nothing.
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import type { UsageHooks } from '../../attester/src/gateway/usage-hooks.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { connectAttested } from '../../cli/src/client/index.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const tee = await SimulatedTee.create({ gpus: 0 });
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

async function proxyWith(t: { teardown(fn: () => unknown): void }, usage: UsageHooks, maxRequestBytes?: number) {
  let seen = 0;
  const upstream = createServer((req, res) => {
    seen++;
    req.resume();
    res.end('{}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const identity = AttesterIdentity.generate();
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const gateway = new RaTlsGateway({
    identity,
    makeEvidence: async (nonce) => {
      const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
      return bundle;
    },
    upstreamPort: (upstream.address() as AddressInfo).port,
    usage,
    ...(maxRequestBytes !== undefined ? { maxRequestBytes } : {}),
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  const connection = await connectAttested({ host: '127.0.0.1', port, policy: tee.policy() });
  t.teardown(async () => {
    connection.close();
    await gateway.close();
    upstream.close();
  });
  return { connection, seen: () => seen };
}

const passThrough: UsageHooks = { prepareRequest: (_p, body) => body, createUsageTap: () => ({ write() {}, end() {} }) };

test('a request body over the limit is answered 413 and not forwarded', async (t) => {
  const p = await proxyWith(t, passThrough, 1024);
  const res = await p.connection.request('POST', '/v1/chat/completions', Buffer.alloc(2048, 0x20), { 'content-type': 'application/json' });
  t.is(res.statusCode, 413);
  res.resume();
  t.is(p.seen(), 0);
});

test('a request metering cannot take is answered 500 and not forwarded', async (t) => {
  const p = await proxyWith(t, { prepareRequest: () => { throw new Error('meter broken'); }, createUsageTap: passThrough.createUsageTap });
  const res = await p.connection.request('POST', '/v1/chat/completions', '{"model":"m","messages":[]}', { 'content-type': 'application/json' });
  t.is(res.statusCode, 500);
  res.resume();
  t.is(p.seen(), 0);
});
