// The exchange with the attestation service over real HTTPS (a local test server with a self-signed
// certificate): Bearer token, retries with backoff, verdicts, renewal.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { Attester, renewalDelayMs, type AttesterOptions } from '../../attester/src/attester.js';
import { retryAfterDelay, retryDelay } from '../../attester/src/backoff.js';
import type { CpuEvidenceSource } from '../../attester/src/cpu/source.js';
import { AttesterError } from '../../attester/src/errors.js';
import { NoGpuSource } from '../../attester/src/gpu/source.js';
import { HttpsTransport, MAX_RETRY_AFTER_MS, retryAfterMsOf, tokenFromFile } from '../../attester/src/transport.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { challengeAnswer, startTestService, type TestService } from './_fixture.js';

/** A CPU source that returns the report_data itself as a "quote", so the server can check the binding. */
const echoCpu: CpuEvidenceSource = { name: 'echo', collect: async (rd) => ({ type: 'tdx', quote: Buffer.from(rd).toString('base64') }) };

/** What a verifier checks first: report_data == SHA-512(nonce ‖ publicKey). */
function bindingHolds(req: EvidenceRequest): boolean {
  if (req.cpu.type !== 'tdx') return false;
  const expected = createHash('sha512').update(Buffer.from(req.nonce, 'hex')).update(Buffer.from(req.publicKey, 'hex')).digest();
  return expected.equals(Buffer.from(req.cpu.quote, 'base64'));
}

/** An attester of node gpu-1 with the echo CPU and no GPUs, talking to `svc` over HTTPS with its CA and token; `options` add to or replace that. */
function echoAttester(svc: TestService, options: Partial<AttesterOptions> = {}): Attester {
  return new Attester({
    subject: { kind: 'node', nodeName: 'gpu-1' },
    cpu: echoCpu,
    gpu: new NoGpuSource(),
    transport: new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: tokenFromFile(svc.tokenFile) }),
    ...options,
  });
}

/** An echo attester whose retries wait nothing and record how long they would have (backoff 100 ms doubling to 1 s, jitter fixed at ½). */
function recordingAttester(svc: TestService): { attester: Attester; delays: number[] } {
  const delays: number[] = [];
  const attester = echoAttester(svc, { retry: { initialMs: 100, maxMs: 1000, maxAttempts: 5 }, random: () => 0.5, sleep: async (ms) => void delays.push(ms) });
  return { attester, delays };
}

test('the attester retries a busy service (503) with growing jittered backoff, then is verified', async (t) => {
  const issued: string[] = [];
  const svc = await startTestService((path, body, n) => {
    if (path === '/v1/challenge') {
      if (n <= 2) return { status: 503, body: { error: 'leader election in progress' } };
      const a = challengeAnswer();
      issued.push(a.body.nonce);
      return a;
    }
    const req = body as EvidenceRequest;
    const ok = issued.includes(req.nonce) && bindingHolds(req);
    return { status: 200, body: { verified: ok, reasons: ok ? [] : [{ code: 'BINDING_MISMATCH', message: 'x' }], expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
  });
  t.teardown(() => svc.close());
  const { attester, delays } = recordingAttester(svc);
  const outcome = await attester.attestOnce();
  t.true(outcome.verified);
  t.true(attester.attested);
  t.deepEqual(delays, [75, 150], 'each delay is within [½, 1] of 100·2^(n−1)');
  t.true(svc.requests.every((r) => r.authorization === `Bearer ${svc.token}`));
  t.is(svc.requests.filter((r) => r.path === '/v1/evidence').length, 1);
});

// Finding: the service answers a load refusal 429 with Retry-After (its TokenReview budget says when a
// review is free again), and the attester came back after its own backoff anyway — 75 ms here, where the
// service asked for 7 s; a fleet of attesters so refused asked again and again, each time on a new
// connection.
test('a busy service\'s Retry-After is waited out, spread by up to half again, where the backoff is shorter', async (t) => {
  const svc = await startTestService((path, _body, n) => {
    if (path === '/v1/challenge' && n <= 2) return { status: 429, body: { error: 'too many unauthenticated requests; retry later' }, headers: { 'retry-after': '7' } };
    if (path === '/v1/challenge') return challengeAnswer();
    return { status: 200, body: { verified: true, reasons: [], expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
  });
  t.teardown(() => svc.close());
  const { attester, delays } = recordingAttester(svc);
  t.true((await attester.attestOnce()).verified);
  t.deepEqual(delays, [8750, 8750], '7 s × (1 + ½ × 0.5), not the backoff\'s 75 and 150 ms');
  t.is(retryAfterDelay(7000, () => 0), 7000, 'never sooner than asked');
  t.is(retryAfterDelay(7000, () => 1), 10_500);
});

test('Retry-After is read in seconds or as an HTTP date, capped, and ignored when unreadable', (t) => {
  const now = Date.parse('2026-12-07T00:00:00Z');
  t.is(retryAfterMsOf('7', now), 7000);
  t.is(retryAfterMsOf(' 0 ', now), 0);
  t.is(retryAfterMsOf('Mon, 07 Dec 2026 00:00:30 GMT', now), 30_000);
  t.is(retryAfterMsOf('Sun, 06 Dec 2026 23:00:00 GMT', now), 0, 'a date in the past: at once (the backoff still applies)');
  t.is(retryAfterMsOf('86400', now), MAX_RETRY_AFTER_MS, 'a day would outlast the attestation: capped');
  t.is(retryAfterMsOf('soon', now), undefined);
  t.is(retryAfterMsOf('-5', now), undefined);
  t.is(retryAfterMsOf(undefined, now), undefined);
});

test('backoff delays double up to the cap and stay within the jitter band', (t) => {
  const policy = { initialMs: 500, maxMs: 30_000, maxAttempts: Infinity };
  t.is(retryDelay(1, policy, () => 0), 500);
  t.is(retryDelay(4, policy, () => 0), 4000);
  t.is(retryDelay(20, policy, () => 0), 30_000);
  t.is(retryDelay(20, policy, () => 1), 15_000);
});

test('a service that stays unavailable ends in SERVICE_UNAVAILABLE after the allowed tries', async (t) => {
  const svc = await startTestService(() => ({ status: 503, body: {} }));
  t.teardown(() => svc.close());
  const attester = echoAttester(svc, { retry: { initialMs: 1, maxMs: 2, maxAttempts: 3 } });
  const err = await t.throwsAsync(attester.attestOnce(), { instanceOf: AttesterError });
  t.is(err?.code, 'SERVICE_UNAVAILABLE');
  t.is(svc.requests.length, 3);
});

test('a refused token (401) is not retried and the error says what to check', async (t) => {
  const svc = await startTestService(() => challengeAnswer());
  t.teardown(() => svc.close());
  const transport = new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: async () => 'wrong-token' });
  const attester = echoAttester(svc, { subject: { kind: 'node', nodeName: 'n' }, transport, retry: { initialMs: 1 } });
  const err = await t.throwsAsync(attester.attestOnce(), { instanceOf: AttesterError });
  t.is(err?.code, 'SERVICE_ERROR');
  t.regex(err?.message ?? '', /401.*audience chrysalis-attestation/);
  t.is(svc.requests.length, 1);
});

test('a service certificate that does not chain to --ca is refused and not retried', async (t) => {
  const svc = await startTestService(() => challengeAnswer());
  t.teardown(() => svc.close());
  const transport = new HttpsTransport({ serviceUrl: svc.url, token: tokenFromFile(svc.tokenFile) });
  const err = await t.throwsAsync(transport.challenge({ subject: { kind: 'node', nodeName: 'n' } }), { instanceOf: AttesterError });
  t.is(err?.code, 'SERVICE_ERROR');
  t.false(err?.transient);
  t.regex(err?.message ?? '', /--ca/);
});

// The transport parses its CA once (a TLS context of its own) and still sends the CA with each request:
// connections are pooled by the agent under a name that includes the CA, so a connection verified against
// one CA is never handed to a transport that pins another.
test('a pinned CA the service certificate does not chain to is refused, even after another transport connected with the right one', async (t) => {
  const svc = await startTestService(() => challengeAnswer());
  const other = await startTestService(() => challengeAnswer());
  t.teardown(async () => { await svc.close(); await other.close(); });
  const subject = { subject: { kind: 'node' as const, nodeName: 'n' } };
  const right = new HttpsTransport({ serviceUrl: svc.url, ca: svc.ca, token: tokenFromFile(svc.tokenFile) });
  t.truthy((await right.challenge(subject)).nonce, 'the right CA: answered, and its connection is kept alive');
  const wrong = new HttpsTransport({ serviceUrl: svc.url, ca: other.ca, token: tokenFromFile(svc.tokenFile) });
  const err = await t.throwsAsync(wrong.challenge(subject), { instanceOf: AttesterError });
  t.is(err?.code, 'SERVICE_ERROR');
  t.false(err?.transient);
  t.is(svc.requests.length, 1, 'nothing reached the service over the kept connection');
  t.truthy((await right.challenge(subject)).nonce, 'the right CA still works after the refusal');
});

test('an http:// service URL is refused so the token never travels in clear text', (t) => {
  const err = t.throws(() => new HttpsTransport({ serviceUrl: 'http://127.0.0.1:1', token: async () => 't' }), { instanceOf: AttesterError });
  t.is(err?.code, 'CONFIG_INVALID');
});

test('a missing token file is TOKEN_UNAVAILABLE naming the file', async (t) => {
  const err = await t.throwsAsync(tokenFromFile('/nonexistent/token')(), { instanceOf: AttesterError });
  t.is(err?.code, 'TOKEN_UNAVAILABLE');
  t.regex(err?.message ?? '', /\/nonexistent\/token/);
});

test('a rejection sent with a 4xx status is an outcome with reasons, not an error', async (t) => {
  const svc = await startTestService((path) =>
    path === '/v1/challenge' ? challengeAnswer() : { status: 403, body: { verified: false, reasons: [{ code: 'NONCE_MISMATCH', message: 'nonce expired' }] } },
  );
  t.teardown(() => svc.close());
  const attester = echoAttester(svc, { subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' } });
  const outcome = await attester.attestOnce();
  t.false(outcome.verified);
  t.deepEqual(outcome.reasons.map((r) => r.code), ['NONCE_MISMATCH']);
  t.false(attester.attested);
  t.deepEqual((svc.requests[0]!.body as { subject: unknown }).subject, { kind: 'replica', namespace: 'ns', pod: 'p-0' });
});

test('renewal is scheduled before the attestation lapses', (t) => {
  const now = 1_000_000;
  const latest = () => 0;
  t.is(renewalDelayMs(new Date(now + 3_600_000), now, latest), 3_240_000, 'at the latest a tenth of the lifetime early');
  t.is(renewalDelayMs(new Date(now + 3_600_000), now, () => 0.5), 3_060_000, 'halfway: a tenth and a half early');
  t.true(renewalDelayMs(new Date(now + 3_600_000), now, () => 0.999999) > 2_880_000, 'never two tenths or more early');
  t.is(renewalDelayMs(new Date(now + 100_000), now, latest), 70_000, 'at least 30 s early');
  t.is(renewalDelayMs(new Date(now + 10_000), now, latest), 0, 'right away when nearly lapsed');
});

test('a fleet attested within one minute renews spread over the margin, not in the same minute', (t) => {
  // 8,000 replicas verified evenly within 60 s, each lapsing 3,900 s after (interval + challenge lifetime).
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const renewals = Array.from({ length: 8000 }, (_, i) => {
    const verifiedAt = (i / 8000) * 60_000;
    return verifiedAt + renewalDelayMs(new Date(verifiedAt + 3_900_000), verifiedAt, random);
  });
  const perMinute = new Map<number, number>();
  for (const at of renewals) perMinute.set(Math.floor(at / 60_000), (perMinute.get(Math.floor(at / 60_000)) ?? 0) + 1);
  const busiest = Math.max(...perMinute.values());
  t.true(perMinute.size >= 7, `spread over ${perMinute.size} minutes`);
  t.true(busiest <= 1600, `at most a fifth of the fleet in any minute (busiest ${busiest}); at a fixed point all 8,000 came in one`);
  t.true(renewals.every((at, i) => at < (i / 8000) * 60_000 + 3_900_000 - 390_000 + 1), 'every one at least a margin before its lapse');
});

test('the run loop re-challenges before expiresAt and at once when re-attestation is requested', async (t) => {
  let nonces = 0;
  const svc = await startTestService((path) => {
    if (path === '/v1/challenge') {
      nonces++;
      return challengeAnswer();
    }
    return { status: 200, body: { verified: true, reasons: [], expiresAt: new Date(Date.now() + 40_000).toISOString() } };
  });
  t.teardown(() => svc.close());
  const waits: number[] = [];
  const stop = new AbortController();
  let attester: Attester | undefined;
  attester = echoAttester(svc, {
    sleep: (ms, signal) => {
      waits.push(ms);
      if (waits.length === 1) return Promise.resolve(); // first wait: let the renewal happen
      if (waits.length === 2) {
        // second wait: the operator asks for re-attestation while the loop sleeps
        setImmediate(() => attester!.requestReattest());
      } else stop.abort();
      return new Promise((_, reject) => {
        if (signal?.aborted) reject(new Error('aborted'));
        signal?.addEventListener('abort', () => reject(new Error('woken')), { once: true });
      });
    },
  });
  await attester.run(stop.signal);
  t.is(nonces, 3, 'initial, renewal, requested');
  t.true(waits[0]! <= 10_000, `renewal wait ${waits[0]} ms is before the 40 s expiry minus the 30 s margin`);
});

test('while attested, a node polls for a new challenge and answers it as soon as the operator issues one', async (t) => {
  // The service has no pending challenge (503) until the test "issues" a second one.
  let pending: string | undefined = randomBytes(32).toString('hex');
  const answered: string[] = [];
  const svc = await startTestService((path, body) => {
    if (path === '/v1/challenge') return pending ? challengeAnswer(pending) : { status: 503, body: { error: 'no challenge pending' } };
    answered.push((body as EvidenceRequest).nonce);
    pending = undefined;
    return { status: 200, body: { verified: true, reasons: [], expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
  });
  t.teardown(() => svc.close());
  const stop = new AbortController();
  let polls = 0;
  const second = randomBytes(32).toString('hex');
  const attester = echoAttester(svc, {
    challengePollMs: 1000,
    sleep: async (ms) => {
      t.true(ms <= 1000, 'polls at the poll interval, not the renewal time');
      polls++;
      if (polls === 3) pending = second; // the operator asks for re-attestation
      if (answered.length === 2) stop.abort();
    },
  });
  await attester.run(stop.signal);
  t.deepEqual(answered.slice(1), [second]);
});

test('a 409 (the challenge was re-issued meanwhile) is retried with a fresh challenge', async (t) => {
  const svc = await startTestService((path, _body, n) => {
    if (path === '/v1/challenge') return challengeAnswer();
    if (n === 1) return { status: 409, body: { error: 'NONCE_MISMATCH: the evidence answers a challenge that is not the pending one' } };
    return { status: 200, body: { verified: true, reasons: [] } };
  });
  t.teardown(() => svc.close());
  const attester = echoAttester(svc, {
    sleep: async () => undefined,
  });
  t.true((await attester.attestOnce()).verified);
  t.is(svc.requests.filter((r) => r.path === '/v1/challenge').length, 2);
});
