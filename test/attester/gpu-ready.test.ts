// The node attester releases the GPUs (NVML's confidential-computing "GPUs ready" state) only after the
// attestation service answered verified, and withholds them at start, on a rejection, when the
// attestation lapses, and when it stops. Driven through the real NvmlGpuSource against a fake NVML that
// implements the binding's contract (NvmlBinding, what the koffi binding of libnvidia-ml satisfies), with
// a pinned clock that only the attester's own sleeps move.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import { Attester } from '../../attester/src/attester.js';
import type { CpuEvidenceSource } from '../../attester/src/cpu/source.js';
import { AttesterError } from '../../attester/src/errors.js';
import { CC_GPUS_NOT_READY, CC_GPUS_READY, type ConfComputeState, type NvmlBinding } from '../../attester/src/gpu/nvml.js';
import { NvmlGpuSource } from '../../attester/src/gpu/source.js';
import type { Transport } from '../../attester/src/transport.js';
import type { EvidenceResponse, Subject } from '../../operator/src/attestation/service/protocol.js';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const CC_ON: ConfComputeState = { environment: 2, ccFeature: 1, devToolsMode: 0 };
const NODE: Subject = { kind: 'node', nodeName: 'gpu-1' };

interface FakeNvml extends NvmlBinding {
  /** The driver's state: CC_GPUS_NOT_READY at boot, as a CC-mode driver starts. */
  ready: number;
  /** Every successful write and the pinned clock at the time. */
  writes: { value: number; at: number }[];
  cc: ConfComputeState;
  /** Returns an nvmlReturn_t to fail the write with, or 0 to let it through. */
  failSet: (value: number) => number;
  /** When true the driver ignores writes (NVML says success, the state stays). */
  ignoreWrites: boolean;
}

const NVML_ERRORS: Record<number, string> = { 3: 'Not Supported', 4: 'Insufficient Permissions' };

function fakeNvml(clock: () => number): FakeNvml {
  const nvml: FakeNvml = {
    ready: CC_GPUS_NOT_READY,
    writes: [],
    cc: CC_ON,
    failSet: () => 0,
    ignoreWrites: false,
    init: () => undefined,
    shutdown: () => undefined,
    deviceCount: () => 1,
    driverVersion: () => '550.90.07',
    vbiosVersion: () => '96.00.9F.00.01',
    confComputeState: () => nvml.cc,
    gpusReadyState: () => nvml.ready,
    setGpusReadyState: (value) => {
      // The koffi binding's contract: a failing nvmlReturn_t becomes NVML_FAILED with nvmlErrorString.
      const rc = nvml.failSet(value);
      if (rc !== 0) throw new AttesterError('NVML_FAILED', `nvmlSystemSetConfComputeGpusReadyState(${value}) failed: ${NVML_ERRORS[rc] ?? 'Unknown Error'} (nvmlReturn_t ${rc})`);
      if (!nvml.ignoreWrites) nvml.ready = value;
      nvml.writes.push({ value, at: clock() });
    },
    attestationReport: (_i, nonce) => ({ report: new Uint8Array([0x11, 0xe0, ...nonce]), cecReport: undefined }),
    certificates: () => ({ certChain: new Uint8Array(0), attestationCertChain: new Uint8Array(Buffer.from('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n')) }),
  };
  return nvml;
}

const cpu: CpuEvidenceSource = { name: 'test', collect: async (rd) => ({ type: 'tdx', quote: Buffer.from(rd).toString('base64') }) };

/** What the service answers to each evidence request, in order; `down` makes every call after it a 503. */
type Answer = EvidenceResponse | 'down';

interface Run {
  attester: Attester;
  nvml: FakeNvml;
  /** The driver's state when each evidence request reached the service, in order. */
  readyWhenAsked: number[];
  /** After each verdict (onOutcome runs once the gate followed it): the driver's state and the gate's. */
  afterVerdict: { verified: boolean; ready: number; released: boolean; state: string | undefined }[];
  /** The attester's whole gpusReady status after each verdict. */
  gates: Attester['gpusReady'][];
  logs: { level: string; message: string; error?: string; reason?: string }[];
  clock: () => number;
}

const verified = (minutes: number, now: number): EvidenceResponse => ({ verified: true, reasons: [], expiresAt: new Date(now + minutes * 60_000).toISOString() });
const rejected = (code: string): EvidenceResponse => ({ verified: false, reasons: [{ code, message: `${code} (test)` }] });

/**
 * Runs a node attester until the script is used up and `stopAfterMs` of pinned time has passed after it
 * (the service is down meanwhile), or until `stopAtMs` after the start, then stops it. Sleeps move the
 * clock; nothing waits for real.
 */
async function runScript(script: (now: number) => Answer[], options: { stopAfterMs?: number; stopAtMs?: number; subject?: Subject; setup?: (nvml: FakeNvml) => void } = {}): Promise<Run> {
  let now = T0;
  const clock = () => now;
  const nvml = fakeNvml(clock);
  options.setup?.(nvml);
  const answers = script(T0);
  const stop = new AbortController();
  const readyWhenAsked: number[] = [];
  const afterVerdict: Run['afterVerdict'] = [];
  const gates: Run['gates'] = [];
  let down = false;
  let downSince = 0;
  const unavailable = () => new AttesterError('SERVICE_UNAVAILABLE', 'the attestation service answered 503 (test)', { transient: true });
  const transport: Transport = {
    challenge: async () => {
      if (options.stopAtMs !== undefined && now - T0 >= options.stopAtMs) {
        stop.abort();
        throw unavailable();
      }
      if (down) {
        if (now - downSince >= (options.stopAfterMs ?? 0)) stop.abort();
        throw unavailable();
      }
      return { nonce: randomBytes(32).toString('hex'), expiresAt: new Date(now + 60_000).toISOString() };
    },
    evidence: async () => {
      readyWhenAsked.push(nvml.ready);
      const next = answers.shift();
      if (next === undefined || next === 'down') {
        down = true;
        downSince = now;
        if (!options.stopAfterMs) stop.abort();
        throw unavailable();
      }
      return next;
    },
    usage: async () => ({ accepted: true, reasons: [] }),
  };
  const logs: Run['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Run['logs'][number]);
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  const attester: Attester = new Attester({
    subject: options.subject ?? NODE,
    cpu,
    gpu: new NvmlGpuSource({ binding: nvml }),
    transport,
    now: clock,
    random: () => 1,
    rejectedRetryMs: 60_000,
    logger,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw new Error('aborted');
      now += ms;
    },
  });
  await attester.run(stop.signal, (outcome) => {
    const gate = attester.gpusReady;
    afterVerdict.push({ verified: outcome.verified, ready: nvml.ready, released: gate?.released ?? false, state: gate?.state });
    gates.push(gate);
  });
  return { attester, nvml, readyWhenAsked, afterVerdict, gates, logs, clock };
}

test('the GPUs are withheld at start and take work only once the service answers verified', async (t) => {
  const run = await runScript((now) => [verified(60, now)]);
  t.deepEqual(run.nvml.writes[0], { value: CC_GPUS_NOT_READY, at: T0 }, 'FALSE is written before any evidence is sent');
  t.deepEqual(run.readyWhenAsked[0], CC_GPUS_NOT_READY, 'not ready while the evidence is being judged');
  t.deepEqual(run.afterVerdict[0], { verified: true, ready: CC_GPUS_READY, released: true, state: 'released' });
  t.deepEqual(run.nvml.writes.map((w) => w.value), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY], 'withheld again when the attester stops');
  t.is(run.attester.gpusReady?.state, 'withheld');
  t.regex(run.attester.gpusReady?.reason ?? '', /stopped/);
});

test('a rejected answer never releases the GPUs, and a rejected renewal withholds them at once', async (t) => {
  const run = await runScript((now) => [rejected('MEASUREMENT_MISMATCH'), verified(60, now), rejected('TCB_STATUS_UNACCEPTABLE')]);
  t.deepEqual(
    run.afterVerdict.map(({ verified: v, ready, released }) => ({ v, ready, released })),
    [
      { v: false, ready: CC_GPUS_NOT_READY, released: false },
      { v: true, ready: CC_GPUS_READY, released: true },
      { v: false, ready: CC_GPUS_NOT_READY, released: false },
    ],
  );
  t.deepEqual(run.readyWhenAsked, [CC_GPUS_NOT_READY, CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY]);
  const withheld = run.logs.find((l) => l.level === 'warn' && /GPUs withheld/.test(l.message));
  t.regex(withheld?.reason ?? '', /rejected the node's evidence \(TCB_STATUS_UNACCEPTABLE\)/, 'the log says which verdict withheld them');
});

test('an attestation that lapses without a fresh verified answer withholds the GPUs at its expiresAt, not when the backoff ends', async (t) => {
  // Verified for 10 minutes, then the service is unreachable: renewal starts a minute early and backs off.
  const run = await runScript((now) => [verified(10, now), 'down'], { stopAfterMs: 20 * 60_000 });
  const expiry = T0 + 10 * 60_000;
  const lapse = run.nvml.writes.find((w) => w.value === CC_GPUS_NOT_READY && w.at > T0);
  t.is(lapse?.at, expiry, 'FALSE is written at the very expiresAt the service gave');
  t.deepEqual(run.nvml.writes.map((w) => w.value), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY, CC_GPUS_NOT_READY]);
  t.true(run.logs.some((l) => l.level === 'warn' && /lapsed at 2026-12-03T12:10:00.000Z without a fresh verified answer/.test(l.reason ?? '')));
});

test('a verified answer renewed in time keeps the GPUs released without a gap', async (t) => {
  const run = await runScript((now) => [verified(10, now), verified(20, now), verified(30, now)]);
  t.deepEqual(run.nvml.writes.map((w) => w.value), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_READY, CC_GPUS_READY, CC_GPUS_NOT_READY], 'no FALSE between renewals, only at the stop');
  t.true(run.afterVerdict.every((v) => v.released));
});

test('a verified answer without an expiresAt does not release the GPUs (a release with no end)', async (t) => {
  const run = await runScript(() => [{ verified: true, reasons: [] }]);
  t.deepEqual(run.afterVerdict[0], { verified: true, ready: CC_GPUS_NOT_READY, released: false, state: 'withheld' });
  t.false(run.nvml.writes.some((w) => w.value === CC_GPUS_READY));
});

test('an NVML error releasing the GPUs is logged and in the status, and they never count as ready', async (t) => {
  const run = await runScript((now) => [verified(60, now)], { setup: (nvml) => (nvml.failSet = (v) => (v === CC_GPUS_READY ? 4 : 0)) });
  t.deepEqual(run.afterVerdict[0], { verified: true, ready: CC_GPUS_NOT_READY, released: false, state: 'failed' });
  const failure = run.logs.find((l) => l.level === 'error');
  t.regex(failure?.message ?? '', /could not be released/);
  t.regex(failure?.error ?? '', /Insufficient Permissions \(nvmlReturn_t 4\)/, "NVML's own error reaches the log");
  t.false(run.nvml.writes.some((w) => w.value === CC_GPUS_READY), 'the driver never held TRUE');
});

test('a failed release is written again at the next check while the attestation holds', async (t) => {
  let failures = 1;
  const run = await runScript((now) => [verified(60, now), 'down'], {
    stopAfterMs: 1,
    setup: (nvml) => (nvml.failSet = (v) => (v === CC_GPUS_READY && failures-- > 0 ? 4 : 0)),
  });
  t.is(run.afterVerdict[0]?.state, 'failed');
  t.deepEqual(run.nvml.writes.map((w) => w.value), [CC_GPUS_NOT_READY, CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY], 'start, withheld after the failure, released on the retry, stop');
});

test('NVML reporting another state than the one written counts as a failure, not as ready', async (t) => {
  const run = await runScript((now) => [verified(60, now)], { setup: (nvml) => (nvml.ignoreWrites = true) });
  t.deepEqual(run.afterVerdict[0], { verified: true, ready: CC_GPUS_NOT_READY, released: false, state: 'failed' });
  t.regex(run.gates[0]?.error ?? '', /succeeded but NVML then reports ready state 0/);
});

test('an NVML error withholding the GPUs after a rejection is reported as failed, never as ready or withheld', async (t) => {
  let calls = 0;
  const run = await runScript((now) => [verified(60, now), rejected('BINDING_MISMATCH')], {
    // start (FALSE) and release (TRUE) succeed; the FALSE after the rejection fails.
    setup: (nvml) => (nvml.failSet = (v) => (v === CC_GPUS_NOT_READY && ++calls === 2 ? 3 : 0)),
  });
  t.deepEqual(run.afterVerdict[1], { verified: false, ready: CC_GPUS_READY, released: false, state: 'failed' });
  t.true(run.logs.some((l) => l.level === 'error' && /could not be withheld/.test(l.message) && /Not Supported/.test(l.error ?? '')));
});

test('GPUs found out of CC mode are withheld and no evidence is sent', async (t) => {
  const run = await runScript(() => [], { setup: (nvml) => (nvml.cc = { environment: 2, ccFeature: 0, devToolsMode: 0 }), stopAtMs: 2 * 60_000 });
  t.deepEqual(run.readyWhenAsked, []);
  t.true(run.logs.some((l) => /GPU confidential computing is not on/.test(l.reason ?? '')));
  t.false(run.nvml.writes.some((w) => w.value === CC_GPUS_READY));
});

test('a replica attester and a single attestation never touch the driver state', async (t) => {
  const replica = await runScript((now) => [verified(60, now)], { subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' } });
  t.deepEqual(replica.nvml.writes, []);
  t.is(replica.attester.gpusReady, undefined);

  const now = T0;
  const nvml = fakeNvml(() => now);
  const once = new Attester({
    subject: NODE,
    cpu,
    gpu: new NvmlGpuSource({ binding: nvml }),
    now: () => now,
    transport: {
      challenge: async () => ({ nonce: randomBytes(32).toString('hex'), expiresAt: new Date(now + 60_000).toISOString() }),
      evidence: async () => verified(60, now),
      usage: async () => ({ accepted: true, reasons: [] }),
    },
  });
  t.true((await once.attestOnce()).verified);
  t.deepEqual(nvml.writes, [], '--once checks the node; nothing would withhold the GPUs after it exits');
});
