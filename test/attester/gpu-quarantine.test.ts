// The operator's quarantine reaches the driver's "GPUs ready" state: a node attester whose GPUs are
// released reads the node's standing (/v1/standing) at each challenge poll and withholds them when the
// operator quarantined the node after its last verified evidence (GpuStateChanged, which the node's own
// evidence does not show); only a fresh verified answer releases them again. Driven through the real
// NvmlGpuSource against a fake NVML implementing the binding's contract (NvmlBinding), with a pinned
// clock that only the attester's own sleeps move.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import winston from 'winston';
import { Attester } from '../../attester/src/attester.js';
import type { CpuEvidenceSource } from '../../attester/src/cpu/source.js';
import { CC_GPUS_NOT_READY, CC_GPUS_READY, type NvmlBinding } from '../../attester/src/gpu/nvml.js';
import { quarantineWithholds } from '../../attester/src/gpu/quarantine.js';
import { NvmlGpuSource } from '../../attester/src/gpu/source.js';
import type { Transport } from '../../attester/src/transport.js';
import type { NodeStanding } from '../../operator/src/attestation/service/protocol.js';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const MIN = 60_000;
/** Condition times have whole seconds, as the apiserver stores them. */
const conditionTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

type FakeNvml = NvmlBinding & { ready: number; writes: { value: number; at: number }[] };

function fakeNvml(clock: () => number): FakeNvml {
  const nvml: FakeNvml = {
    ready: CC_GPUS_NOT_READY,
    writes: [] as { value: number; at: number }[],
    init: () => undefined,
    shutdown: () => undefined,
    deviceCount: () => 1,
    driverVersion: () => '550.90.07',
    vbiosVersion: () => '96.00.9F.00.01',
    confComputeState: () => ({ environment: 2, ccFeature: 1, devToolsMode: 0 }),
    gpusReadyState: () => nvml.ready,
    setGpusReadyState: (value) => {
      nvml.ready = value;
      nvml.writes.push({ value, at: clock() });
    },
    attestationReport: (_i, nonce) => ({ report: new Uint8Array([0x11, 0xe0, ...nonce]), cecReport: undefined }),
    certificates: () => ({ certChain: new Uint8Array(0), attestationCertChain: new Uint8Array(Buffer.from('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n')) }),
  };
  return nvml;
}

const cpu: CpuEvidenceSource = { name: 'test', collect: async (rd) => ({ type: 'tdx', quote: Buffer.from(rd).toString('base64') }) };

/**
 * A node attester against a fake service: each challenge the operator issues (at T0 and at each of
 * `challengesAt`) is answered verified for an hour; the standing says quarantined from `quarantineAt`
 * (with `since`, default that time) on. Runs until `stopAt`.
 */
async function run(options: { quarantineAt: number; since?: string | null; challengesAt?: number[]; stopAt: number }) {
  let now = T0;
  const clock = () => now;
  const nvml = fakeNvml(clock);
  const stop = new AbortController();
  const issued = [T0, ...(options.challengesAt ?? [])];
  const nonces = issued.map(() => randomBytes(32).toString('hex'));
  let verifiedAt: string | undefined;
  const standings: NodeStanding[] = [];
  const current = () => {
    let i = 0;
    for (let k = 0; k < issued.length; k++) if (issued[k]! <= now) i = k;
    return i;
  };
  const transport: Transport = {
    challenge: async () => {
      if (now >= options.stopAt) stop.abort();
      return { nonce: nonces[current()]!, expiresAt: new Date(now + 5 * MIN).toISOString() };
    },
    evidence: async () => {
      verifiedAt = new Date(now).toISOString();
      return { verified: true, reasons: [], expiresAt: new Date(now + 60 * MIN).toISOString() };
    },
    usage: async () => ({ accepted: true, reasons: [] }),
    standing: async () => {
      const quarantined = now >= options.quarantineAt;
      const since = options.since === undefined ? conditionTime(options.quarantineAt) : options.since;
      const s: NodeStanding = { quarantined, ...(verifiedAt ? { verifiedAt } : {}), ...(quarantined ? { quarantineReason: 'GpuStateChanged', quarantineMessage: 'node advertises 7 GPUs but 8 were declared and attested', ...(since ? { quarantinedSince: since } : {}) } : {}) };
      standings.push(s);
      return s;
    },
  };
  const attester = new Attester({
    subject: { kind: 'node', nodeName: 'gpu-1' }, cpu, gpu: new NvmlGpuSource({ binding: nvml }), transport,
    now: clock, random: () => 1, challengePollMs: 30_000,
    logger: winston.createLogger({ silent: true }),
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw new Error('aborted');
      now += ms;
      if (now >= options.stopAt) stop.abort();
    },
  });
  await attester.run(stop.signal);
  return { nvml, standings, attester };
}

const values = (writes: { value: number }[]) => writes.map((w) => w.value);

test('a quarantine after the last verified evidence withholds the GPUs at the next poll, and only fresh verified evidence releases them', async (t) => {
  const r = await run({ quarantineAt: T0 + 5 * MIN, challengesAt: [T0 + 20 * MIN], stopAt: T0 + 25 * MIN });
  t.deepEqual(values(r.nvml.writes), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY]);
  const withheld = r.nvml.writes[2]!;
  t.true(withheld.at >= T0 + 5 * MIN && withheld.at <= T0 + 5 * MIN + 30_000, 'within one poll of the quarantine');
  const rereleased = r.nvml.writes[3]!;
  t.is(rereleased.at, T0 + 20 * MIN, 'released again only by the verified answer to the next challenge (found by the poll when it was issued)');
  // The quarantine is still True after that (the operator keeps it while the Node's GPU count differs),
  // but it began before the fresh evidence: the release stands until the stop.
  t.true(r.standings.some((s) => s.quarantined && Date.parse(s.verifiedAt!) >= T0 + 20 * MIN), 'the standing was read after the fresh evidence and still said quarantined');
  t.is(r.nvml.writes[4]!.at, T0 + 25 * MIN, 'the last FALSE is the stop');
});

test('without fresh evidence the GPUs stay withheld while quarantined (no later poll or sync releases them)', async (t) => {
  const r = await run({ quarantineAt: T0 + 2 * MIN, stopAt: T0 + 30 * MIN });
  t.deepEqual(values(r.nvml.writes).slice(0, 3), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY]);
  t.false(r.nvml.writes.slice(2).some((w) => w.value === CC_GPUS_READY));
  t.is(r.nvml.ready, CC_GPUS_NOT_READY);
  t.regex(r.attester.gpusReady?.reason ?? '', /stopped|quarantined/);
});

test('a quarantine that began before the verified evidence does not withhold it (the operator lifts it as Recovered)', async (t) => {
  const r = await run({ quarantineAt: T0 + 1 * MIN, since: conditionTime(T0 - 10 * MIN), stopAt: T0 + 5 * MIN });
  t.deepEqual(values(r.nvml.writes), [CC_GPUS_NOT_READY, CC_GPUS_READY, CC_GPUS_NOT_READY]);
  t.is(r.nvml.writes[2]!.at, T0 + 5 * MIN, 'the only FALSE after the release is the stop');
  t.true(r.standings.some((s) => s.quarantined));
});

test('the standing rule: quarantines after (or within the same second as) the verified evidence, or without times, withhold', (t) => {
  const verifiedAt = '2026-12-03T12:00:00.400Z';
  t.is(quarantineWithholds({ quarantined: false, verifiedAt }), undefined);
  t.is(quarantineWithholds({ quarantined: true, verifiedAt, quarantinedSince: '2026-12-03T11:59:59Z' }), undefined);
  t.regex(quarantineWithholds({ quarantined: true, verifiedAt, quarantinedSince: '2026-12-03T12:00:00Z', quarantineReason: 'GpuStateChanged' }) ?? '', /GpuStateChanged/, 'same second: cannot tell which came first');
  t.truthy(quarantineWithholds({ quarantined: true, verifiedAt, quarantinedSince: '2026-12-03T12:05:00Z' }));
  t.truthy(quarantineWithholds({ quarantined: true, verifiedAt }));
  t.truthy(quarantineWithholds({ quarantined: true, quarantinedSince: '2026-12-03T11:00:00Z' }));
});
