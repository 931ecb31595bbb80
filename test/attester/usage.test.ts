// Usage reports: counters scraped from the inference server's Prometheus endpoint, GPU-seconds, signed
// with the attested key, sent over HTTPS with an increasing sequence.
import test from 'ava';
import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { HttpsTransport, tokenFromFile } from '../../attester/src/transport.js';
import { prometheusScraper, UsageAccumulator, UsageReporter } from '../../attester/src/usage/reporter.js';
import { canonicalJson, type SignedUsageReport } from '../../operator/src/attestation/service/protocol.js';
import { startTestService } from './_fixture.js';

function verifies(publicKey: Uint8Array, signed: SignedUsageReport): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return verify(null, Buffer.from(canonicalJson(signed.report)), key, Buffer.from(signed.signature, 'hex'));
}

/** A vLLM-like /metrics endpoint whose counters the test sets. */
async function fakeVllm(): Promise<{ url: string; set(prompt: number, gen: number): void; down(d: boolean): void; close(): Promise<void> }> {
  let prompt = 0;
  let gen = 0;
  let isDown = false;
  const server = createServer((_req, res) => {
    if (isDown) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      `# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{model_name="m"} ${prompt}.0\n` +
        `# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{model_name="m"} ${gen}.0\n`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    set: (p, g) => {
      prompt = p;
      gen = g;
    },
    down: (d) => {
      isDown = d;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test('usage reports are signed with the attested key, sequence-increasing, and carry scraped counters', async (t) => {
  const svc = await startTestService(() => ({ status: 200, body: { accepted: true, reasons: [] } }));
  const vllm = await fakeVllm();
  t.teardown(async () => {
    await svc.close();
    await vllm.close();
  });
  const identity = AttesterIdentity.generate();
  let now = 1_700_000_000_000;
  const reporter = new UsageReporter({
    identity,
    namespace: 'team-a',
    pod: 'llama-0',
    transport: new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: tokenFromFile(svc.tokenFile) }),
    scrape: prometheusScraper(vllm.url),
    gpus: 2,
    now: () => now,
  });
  vllm.set(100, 10); // baseline at start
  await reporter.tick();
  vllm.set(250, 60);
  now += 30_000;
  await reporter.tick();
  vllm.set(20, 5); // the server restarted: its counters began again
  now += 30_000;
  await reporter.tick();

  const sent = svc.requests.filter((r) => r.path === '/v1/usage').map((r) => r.body as SignedUsageReport);
  t.is(sent.length, 3);
  t.deepEqual(sent.map((s) => s.report.sequence), [1, 2, 3]);
  t.true(sent.every((s) => verifies(identity.publicKey, s)));
  t.true(sent.every((s) => s.report.bootId === reporter.bootId && s.report.namespace === 'team-a' && s.report.pod === 'llama-0'));
  t.deepEqual(sent.map((s) => s.report.counters), [
    { promptTokens: '0', generationTokens: '0', gpuSeconds: '0' },
    { promptTokens: '150', generationTokens: '50', gpuSeconds: '60' },
    { promptTokens: '170', generationTokens: '55', gpuSeconds: '120' },
  ]);
  // A tampered report does not verify against the same key.
  const forged = { ...sent[2]!, report: { ...sent[2]!.report, counters: { ...sent[2]!.report.counters, promptTokens: '999999' } } };
  t.false(verifies(identity.publicKey, forged));
  t.false(verifies(AttesterIdentity.generate().publicKey, sent[2]!));
});

test('GPU-seconds stop while the inference server is down', (t) => {
  const acc = new UsageAccumulator(4);
  acc.observe(0, { promptTokens: 0, generationTokens: 0 });
  acc.observe(10_000, { promptTokens: 5, generationTokens: 1 });
  acc.observe(20_000, undefined); // down
  acc.observe(50_000, { promptTokens: 5, generationTokens: 1 }); // back: the gap is not billed
  acc.observe(60_000, { promptTokens: 9, generationTokens: 3 });
  t.deepEqual(acc.counters(), { promptTokens: '9', generationTokens: '3', gpuSeconds: '80' });
});

test('nothing is sent while the key is not attested, and a refused report asks for re-attestation', async (t) => {
  let accept = false;
  const svc = await startTestService(() => ({ status: 200, body: accept ? { accepted: true, reasons: [] } : { accepted: false, reasons: [{ code: 'NOT_ATTESTED', message: 'key unknown' }] } }));
  t.teardown(() => svc.close());
  let attested = false;
  let reattests = 0;
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(),
    namespace: 'ns',
    pod: 'p',
    transport: new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: tokenFromFile(svc.tokenFile) }),
    scrape: async () => ({ promptTokens: 1, generationTokens: 1 }),
    gpus: 1,
    isAttested: () => attested,
    onRefused: () => reattests++,
  });
  t.is(await reporter.tick(), undefined);
  t.is(svc.requests.length, 0);
  attested = true;
  const refused = await reporter.tick();
  t.false(refused?.response.accepted);
  t.is(reattests, 1);
  accept = true;
  const next = await reporter.tick();
  t.true(next?.response.accepted);
  t.is(next?.sent.report.sequence, 2, 'the sequence advanced past the answered (refused) report');
});

test('a report lost on the network keeps its sequence number for the next try', async (t) => {
  let fail = true;
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(),
    namespace: 'ns',
    pod: 'p',
    transport: {
      challenge: () => Promise.reject(new Error('unused')),
      evidence: () => Promise.reject(new Error('unused')),
      usage: async () => {
        if (fail) throw new Error('ECONNRESET');
        return { accepted: true, reasons: [] };
      },
    },
    scrape: async () => ({ promptTokens: 1, generationTokens: 1 }),
    gpus: 1,
  });
  await t.throwsAsync(reporter.tick());
  fail = false;
  t.is((await reporter.tick())?.sent.report.sequence, 1);
  t.is((await reporter.tick())?.sent.report.sequence, 2);
});

test('the private key never appears in JSON or inspection of the identity', (t) => {
  const identity = AttesterIdentity.generate();
  t.deepEqual(JSON.parse(JSON.stringify({ identity })), { identity: { publicKey: identity.publicKeyHex } });
  t.is(Object.keys(identity).join(','), 'publicKey');
});
