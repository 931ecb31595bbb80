// Usage reports: the terminator's own token counters (a TokenCounter fed by the OpenAI usage tap), and
// GPU-seconds, signed with the attested key, sent over HTTPS with an increasing sequence.
import test from 'ava';
import { createPublicKey, verify } from 'node:crypto';
import { AttesterError } from '../../attester/src/errors.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { HttpsTransport, tokenFromFile } from '../../attester/src/transport.js';
import { createUsageTap } from '../../attester/src/usage/openai-usage.js';
import { GpuClock, reattestationMayHelp, UsageReporter } from '../../attester/src/usage/reporter.js';
import { TokenCounter } from '../../attester/src/usage/token-counter.js';
import { canonicalJson, type SignedUsageReport } from '../../operator/src/attestation/service/protocol.js';
import { startTestService } from './_fixture.js';

function verifies(publicKey: Uint8Array, signed: SignedUsageReport): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return verify(null, Buffer.from(canonicalJson(signed.report)), key, Buffer.from(signed.signature, 'hex'));
}

/** One response forwarded through the gateway's tap. */
function serve(counter: TokenCounter, prompt: number, completion: number): void {
  const tap = createUsageTap('/v1/chat/completions', Buffer.from('{"stream":true}'), counter);
  tap.write(Buffer.from(`data: {"choices":[{"delta":{"content":"x"}}],"usage":null}\n\ndata: {"choices":[],"usage":{"prompt_tokens":${prompt},"completion_tokens":${completion}}}\n\ndata: [DONE]\n\n`));
  tap.end();
}

const quietTransport = (usage: (s: SignedUsageReport) => Promise<{ accepted: boolean; reasons: [] }>) => ({
  challenge: () => Promise.reject(new Error('unused')),
  evidence: () => Promise.reject(new Error('unused')),
  usage,
});

test('usage reports are signed with the attested key, sequence-increasing, and carry the tapped token counters', async (t) => {
  const svc = await startTestService(() => ({ status: 200, body: { accepted: true, reasons: [] } }));
  t.teardown(() => svc.close());
  const identity = AttesterIdentity.generate();
  const tokens = new TokenCounter();
  let now = 1_700_000_000_000;
  const reporter = new UsageReporter({
    identity,
    namespace: 'team-a',
    pod: 'llama-0',
    transport: new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: tokenFromFile(svc.tokenFile) }),
    tokens,
    gpus: 2,
    now: () => now,
  });
  await reporter.tick();
  serve(tokens, 100, 40);
  serve(tokens, 50, 10);
  now += 30_000;
  await reporter.tick();
  serve(tokens, 20, 5);
  now += 30_000;
  await reporter.tick();

  const sent = svc.requests.filter((r) => r.path === '/v1/usage').map((r) => r.body as SignedUsageReport);
  t.is(sent.length, 3);
  t.deepEqual(sent.map((s) => s.report.sequence), [1, 2, 3]);
  t.true(sent.every((s) => verifies(identity.publicKey, s)));
  t.true(sent.every((s) => s.report.bootId === reporter.bootId && s.report.namespace === 'team-a' && s.report.pod === 'llama-0'));
  t.deepEqual(sent.map((s) => s.report.counters), [
    { promptTokens: '0', generationTokens: '0', gpuSeconds: '0', cachedPromptTokens: '0' },
    { promptTokens: '150', generationTokens: '50', gpuSeconds: '60', cachedPromptTokens: '0' },
    { promptTokens: '170', generationTokens: '55', gpuSeconds: '120', cachedPromptTokens: '0' },
  ]);
  // A tampered report does not verify against the same key.
  const forged = { ...sent[2]!, report: { ...sent[2]!.report, counters: { ...sent[2]!.report.counters, promptTokens: '999999' } } };
  t.false(verifies(identity.publicKey, forged));
  t.false(verifies(AttesterIdentity.generate().publicKey, sent[2]!));
});

test('the reporter reads no inference-server endpoint: a response without usage adds nothing to the report', async (t) => {
  const tokens = new TokenCounter();
  const reports: SignedUsageReport[] = [];
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', gpus: 0, tokens,
    transport: quietTransport(async (s) => (reports.push(s), { accepted: true, reasons: [] })),
  });
  const tap = createUsageTap('/v1/chat/completions', Buffer.from('{}'), tokens);
  tap.write(Buffer.from('{"choices":[{"message":{"content":"hello"}}]}'));
  tap.end();
  serve(tokens, 7, 3);
  await reporter.tick();
  t.deepEqual(reports[0]!.report.counters, { promptTokens: '7', generationTokens: '3', gpuSeconds: '0', cachedPromptTokens: '0' });
  t.is(tokens.snapshot().uncountedResponses, 1n);
});

test('counters past 2^53 are reported exactly', async (t) => {
  const big = 2n ** 60n + 3n;
  const reports: SignedUsageReport[] = [];
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', gpus: 1,
    tokens: { snapshot: () => ({ promptTokens: big, completionTokens: big + 1n }) },
    transport: quietTransport(async (s) => (reports.push(s), { accepted: true, reasons: [] })),
  });
  await reporter.tick();
  t.is(reports[0]!.report.counters.promptTokens, big.toString());
  t.is(reports[0]!.report.counters.generationTokens, (big + 1n).toString());
});

test('GPU-seconds count only while the replica is attested', (t) => {
  const clock = new GpuClock(4);
  clock.observe(0, true);
  clock.observe(10_000, true);
  clock.observe(20_000, false); // lapsed: the interval until it is attested again is not counted
  clock.observe(50_000, true);
  clock.observe(60_000, true);
  t.is(clock.gpuSeconds, 80n);
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
    tokens: new TokenCounter(),
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

test('a refusal for the host not being attested does not ask the replica to attest again; any other refusal does', (t) => {
  t.false(reattestationMayHelp({ accepted: false, reasons: [{ code: 'HOST_NOT_ATTESTED', message: 'its host is not attested now' }] }));
  t.true(reattestationMayHelp({ accepted: false, reasons: [{ code: 'NOT_ATTESTED', message: 'no key' }] }));
  t.true(reattestationMayHelp({ accepted: false, reasons: [{ code: 'KEY_MISMATCH', message: 'another key' }] }));
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
    tokens: new TokenCounter(),
    gpus: 1,
    idleReportMs: 0, // every interval, idle or not: this test is about the sequence
  });
  await t.throwsAsync(reporter.tick());
  fail = false;
  t.is((await reporter.tick())?.sent.report.sequence, 1);
  t.is((await reporter.tick())?.sent.report.sequence, 2);
});

test('an idle replica reports once its last accepted report is idleReportMs old, at once when tokens were served, and always at the end', async (t) => {
  // Finding: every replica reported every interval, idle or not, and each report is a host status write;
  // after the chaos bench stopped its traffic, 2,000 idle replicas kept the service deferring reports
  // while the last tokens of some waited for a place.
  const tokens = new TokenCounter();
  const sent: SignedUsageReport[] = [];
  let now = 1_700_000_000_000;
  let accept = true;
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', tokens, gpus: 1, now: () => now, idleReportMs: 300_000,
    transport: quietTransport(async (s) => (sent.push(s), { accepted: accept, reasons: [] })),
  });
  const tickAfter = async (ms: number) => { now += ms; return reporter.tick(); };
  t.truthy(await tickAfter(0), 'the first report of a boot goes, idle or not');
  t.is(await tickAfter(60_000), undefined, 'idle, and the last accepted report is a minute old: nothing is sent');
  serve(tokens, 10, 4);
  t.truthy(await tickAfter(60_000), 'tokens were served: the report goes at the next interval');
  t.is(await tickAfter(60_000), undefined);
  t.is(await tickAfter(180_000), undefined, 'four minutes after the last accepted report');
  t.truthy(await tickAfter(60_000), 'five minutes after it: an idle report goes, carrying the GPU-seconds');
  t.like(sent.at(-1)!.report.counters, { promptTokens: '10', generationTokens: '4', gpuSeconds: '420' });
  // A refused report is not a reported state: the next interval tries again.
  serve(tokens, 1, 1);
  accept = false;
  t.truthy(await tickAfter(60_000));
  accept = true;
  t.truthy(await tickAfter(60_000), 'the refused tokens go again at the next interval');
  t.is(await tickAfter(60_000), undefined);
  // Stopping always reports, idle or not.
  t.true(await reporter.finalReport());
  t.deepEqual(sent.map((s) => s.report.sequence), [1, 2, 3, 4, 5, 6]);
  t.throws(() => new UsageReporter({ identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', tokens, gpus: 1, idleReportMs: -1000, transport: quietTransport(async () => ({ accepted: true, reasons: [] })) }), { message: /--idle-report-interval/ });
});

test('the private key never appears in JSON or inspection of the identity', (t) => {
  const identity = AttesterIdentity.generate();
  t.deepEqual(JSON.parse(JSON.stringify({ identity })), { identity: { publicKey: identity.publicKeyHex } });
  t.is(Object.keys(identity).join(','), 'publicKey');
});

test('stopping sends one last report with the tokens counted since the last one, tried again while the service is busy', async (t) => {
  // Finding: the sidecar reported only every interval, so the tokens it counted after its last report
  // left with it when the Pod stopped.
  const tokens = new TokenCounter();
  const sent: SignedUsageReport[] = [];
  let busy = 0;
  const pauses: number[] = [];
  const reporter = new UsageReporter({
    identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', tokens, gpus: 1,
    transport: quietTransport(async (s) => {
      if (s.report.sequence === 2 && busy++ < 2) throw new AttesterError('SERVICE_UNAVAILABLE', 'POST /v1/usage answered 429', { transient: true });
      sent.push(s);
      return { accepted: true, reasons: [] };
    }),
    sleep: async (ms) => { pauses.push(ms); },
  });
  await reporter.tick();
  serve(tokens, 30, 12);
  t.true(await reporter.finalReport());
  t.deepEqual(sent.map((s) => s.report.sequence), [1, 2]);
  t.like(sent[1]!.report.counters, { promptTokens: '30', generationTokens: '12' });
  t.deepEqual(pauses, [1000, 2000], 'a busy service is asked again, a second apart and then longer');
});

test('the last report gives up at its deadline, and a refusal that is not transient is not retried', async (t) => {
  let clock = 0;
  let tries = 0;
  const always = (err: () => Error) => new UsageReporter({
    identity: AttesterIdentity.generate(), namespace: 'ns', pod: 'p', tokens: new TokenCounter(), gpus: 1,
    transport: quietTransport(async () => { tries++; throw err(); }),
    now: () => clock,
    sleep: async (ms) => { clock += ms; },
  });
  t.false(await always(() => new AttesterError('SERVICE_UNAVAILABLE', 'answered 429', { transient: true })).finalReport(10_000));
  t.is(tries, 5, 'tries at 0, 1, 3, 7 s and once more at the 10 s deadline');
  t.is(clock, 10_000);
  tries = 0;
  t.false(await always(() => new AttesterError('SERVICE_ERROR', 'answered 403')).finalReport(10_000));
  t.is(tries, 1);
});
