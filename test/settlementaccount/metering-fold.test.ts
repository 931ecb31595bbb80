import test from 'ava';
import {
  addUsage, foldUsage, unitsOf, type AttestedReplica, type UsageCursor, type UsageFold,
} from '../../operator/src/settlement/metering.js';
import { parseSignedUsageReport } from '../../operator/src/attestation/service/validate.js';
import { replicaKey, report, signReport } from './_usage.js';

const now = new Date('2025-06-15T12:00:00Z');
const key = replicaKey(1);
const other = replicaKey(2);
const replica: AttestedReplica = {
  pod: 'ns/r-0', podUid: 'uid-1', publicKey: key.publicKey.toString('hex'), attested: true,
  expiresAt: '2025-06-15T13:00:00Z', pool: 'ns/pool', account: 'ns/acct',
};

/** Folds a sequence of reports from scratch and returns every step. */
function run(steps: Array<Parameters<typeof report>[0]>, signer = key, who = replica): UsageFold[] {
  let state: UsageCursor | undefined;
  const out: UsageFold[] = [];
  for (const s of steps) {
    const f = foldUsage(state, signReport(signer, report(s)), who, now);
    out.push(f);
    state = f.newState;
  }
  return out;
}

test('the first report of a replica folds its whole counters and units are prompt plus generation tokens', (t) => {
  const [f] = run([{ sequence: 1, prompt: 100, gen: 50, gpu: 7 }]);
  t.is(f!.rejection, undefined);
  t.deepEqual(f!.delta, { promptTokens: 100n, generationTokens: 50n, gpuSeconds: 7n, cachedPromptTokens: 0n, units: 150n });
  t.is(f!.newState?.units, '150');
  t.is(unitsOf({ promptTokens: 3n, generationTokens: 4n, gpuSeconds: 1000n, cachedPromptTokens: 2n }), 7n);
});

test('later reports of the same boot fold only the increase', (t) => {
  const fs = run([{ sequence: 1, prompt: 100, gen: 50 }, { sequence: 2, prompt: 130, gen: 60 }, { sequence: 5, prompt: 130, gen: 61 }]);
  t.deepEqual(fs.map((f) => f.delta.units), [150n, 40n, 1n]);
  t.is(fs[2]!.newState?.units, '191');
});

test('a restart (new bootId) counts the new counters from zero and never double counts the old boot', (t) => {
  const fs = run([
    { sequence: 1, prompt: 100, gen: 0 },
    { sequence: 1, bootId: 'boot-b', prompt: 10, gen: 0 },
    { sequence: 2, bootId: 'boot-b', prompt: 25, gen: 0 },
  ]);
  t.deepEqual(fs.map((f) => f.delta.units), [100n, 10n, 15n]);
  t.deepEqual(fs[2]!.newState?.retiredBootIds, ['boot-a']);
  t.is(fs[2]!.newState?.units, '125');
});

const refusals: Array<[string, Array<Parameters<typeof report>[0]>, string]> = [
  ['a counter that decreases within a boot is refused', [{ sequence: 1, prompt: 100, gen: 50 }, { sequence: 2, prompt: 99, gen: 60 }], 'COUNTER_DECREASED'],
  ['decreasing GPU-seconds alone is refused too', [{ sequence: 1, prompt: 1, gen: 1, gpu: 9 }, { sequence: 2, prompt: 2, gen: 2, gpu: 8 }], 'COUNTER_DECREASED'],
  ['a replayed older sequence is refused', [{ sequence: 1, prompt: 1, gen: 0 }, { sequence: 2, prompt: 5, gen: 0 }, { sequence: 1, prompt: 1, gen: 0 }], 'SEQUENCE_REPLAYED'],
  ['the same sequence with other counters is refused', [{ sequence: 3, prompt: 1, gen: 0 }, { sequence: 3, prompt: 9, gen: 0 }], 'SEQUENCE_REPLAYED'],
  ['a report under a retired boot is refused as a replay', [{ sequence: 1, prompt: 1, gen: 0 }, { sequence: 1, bootId: 'boot-b', prompt: 1, gen: 0 }, { sequence: 9, prompt: 50, gen: 0 }], 'BOOT_REPLAYED'],
];
for (const [title, steps, code] of refusals) {
  test(title, (t) => {
    const fs = run(steps);
    const last = fs.at(-1)!;
    t.is(last.rejection?.code as string | undefined, code);
    t.is(last.delta.units, 0n);
    t.deepEqual(last.newState, fs.at(-2)!.newState, 'the cursor does not move');
  });
}

test('an exact resend of the last folded report is a benign duplicate: refused, zero delta, no warning', (t) => {
  const fs = run([{ sequence: 1, prompt: 100, gen: 0 }, { sequence: 1, prompt: 100, gen: 0 }]);
  t.is(fs[1]!.rejection?.code, 'DUPLICATE_REPORT');
  t.true(fs[1]!.rejection?.benign);
  t.is(fs[1]!.delta.units, 0n);
});

test('a report signed by another key is refused with SIGNATURE_INVALID', (t) => {
  const [f] = run([{ sequence: 1, prompt: 100, gen: 0 }], other);
  t.is(f!.rejection?.code, 'SIGNATURE_INVALID');
  t.is(f!.newState, undefined);
});

test('a report whose counters were changed after signing is refused', (t) => {
  const signed = signReport(key, report({ sequence: 1, prompt: 100, gen: 0 }));
  signed.report.counters.promptTokens = '100000';
  t.is(foldUsage(undefined, signed, replica, now).rejection?.code, 'SIGNATURE_INVALID');
});

const identities: Array<[string, AttestedReplica | undefined, string]> = [
  ['an unknown replica (no Pod) is refused', undefined, 'UNKNOWN_REPLICA'],
  ['a replica whose attested condition is not True is refused', { ...replica, attested: false }, 'NOT_ATTESTED'],
  ['a replica without an attested key is refused', { ...replica, publicKey: undefined }, 'NOT_ATTESTED'],
  ['a replica whose attestation has expired is refused', { ...replica, expiresAt: '2025-06-15T11:59:59Z' }, 'ATTESTATION_EXPIRED'],
  ['a replica without an expiry is treated as expired', { ...replica, expiresAt: undefined }, 'ATTESTATION_EXPIRED'],
  ['a report naming another Pod than the key belongs to is refused', { ...replica, pod: 'ns/r-1' }, 'UNKNOWN_REPLICA'],
];
for (const [title, who, code] of identities) {
  test(title, (t) => {
    const f = foldUsage(undefined, signReport(key, report({ sequence: 1, prompt: 1, gen: 1 })), who, now);
    t.is(f.rejection?.code as string | undefined, code);
    t.is(f.delta.units, 0n);
  });
}

test('malformed counters are refused before any signature check', (t) => {
  const signed = signReport(key, report({ sequence: 1, prompt: 1, gen: 1 }));
  (signed.report.counters as unknown as Record<string, unknown>).promptTokens = -5;
  t.is(foldUsage(undefined, signed, replica, now).rejection?.code, 'MALFORMED_REPORT');
  const neg = signReport(key, report({ sequence: -1, prompt: 1, gen: 1 }));
  t.is(foldUsage(undefined, neg, replica, now).rejection?.code, 'MALFORMED_REPORT');
});

test('a cursor of an earlier Pod with the same name does not apply to a new Pod', (t) => {
  const [first] = run([{ sequence: 7, prompt: 100, gen: 0 }]);
  const newPod = { ...replica, podUid: 'uid-2' };
  const f = foldUsage(first!.newState, signReport(key, report({ sequence: 1, prompt: 3, gen: 0 })), newPod, now);
  t.is(f.rejection, undefined);
  t.is(f.delta.units, 3n);
  t.is(f.newState?.podUid, 'uid-2');
});

test('addUsage accumulates per account, attributes the units to the payee, and keeps other accounts', (t) => {
  const d = { promptTokens: 1n, generationTokens: 2n, gpuSeconds: 3n, cachedPromptTokens: 0n, units: 3n };
  let u = addUsage(undefined, 'ns/a', '0:aa', d);
  u = addUsage(u, 'ns/b', '0:aa', d);
  u = addUsage(u, 'ns/a', '0:bb', d);
  u = addUsage(u, 'ns/a', '0:aa', d);
  t.deepEqual(u, [
    { account: 'ns/a', promptTokens: '3', generationTokens: '6', gpuSeconds: '9', units: '9', payees: [{ payee: '0:aa', units: '6' }, { payee: '0:bb', units: '3' }] },
    { account: 'ns/b', promptTokens: '1', generationTokens: '2', gpuSeconds: '3', units: '3', payees: [{ payee: '0:aa', units: '3' }] },
  ]);
});

test('cached prompt tokens are folded as a part of the prompt tokens, and never more than them', (t) => {
  const [a, b] = run([{ sequence: 1, prompt: 100, gen: 5, cached: 60 }, { sequence: 2, prompt: 150, gen: 9, cached: 100 }]);
  t.is(a!.delta.cachedPromptTokens, 60n);
  t.is(a!.newState?.cachedPromptTokens, '60');
  t.like(b!.delta, { promptTokens: 50n, cachedPromptTokens: 40n, units: 54n });
  // More cached than prompt tokens in the report itself.
  t.is(run([{ sequence: 1, prompt: 10, gen: 0, cached: 11 }])[0]!.rejection?.code, 'MALFORMED_REPORT');
  // The cached count going down within a boot.
  t.is(run([{ sequence: 1, prompt: 10, gen: 0, cached: 5 }, { sequence: 2, prompt: 12, gen: 0, cached: 4 }])[1]!.rejection?.code, 'COUNTER_DECREASED');
  // A report adding more cached tokens than prompt tokens since the last one.
  const bad = run([{ sequence: 1, prompt: 10, gen: 0, cached: 0 }, { sequence: 2, prompt: 12, gen: 0, cached: 5 }])[1]!;
  t.is(bad.rejection?.code, 'MALFORMED_REPORT');
  t.regex(bad.rejection!.message, /adds 5 cached prompt tokens but only 2 prompt tokens/);
  // An exact resend with cached tokens is a duplicate, not a replay.
  t.is(run([{ sequence: 1, prompt: 10, gen: 0, cached: 5 }, { sequence: 1, prompt: 10, gen: 0, cached: 5 }])[1]!.rejection?.code, 'DUPLICATE_REPORT');
  t.is(run([{ sequence: 1, prompt: 10, gen: 0, cached: 5 }, { sequence: 1, prompt: 10, gen: 0, cached: 6 }])[1]!.rejection?.code, 'SEQUENCE_REPLAYED');
});

test('the service\'s validator keeps cachedPromptTokens as signed; a wire report stripped of it does not verify', (t) => {
  const signed = signReport(key, report({ bootId: 'boot-cached', sequence: 1, prompt: 10, gen: 1, cached: 8 }));
  const judged = parseSignedUsageReport(JSON.parse(JSON.stringify(signed)));
  t.is(judged.report.counters.cachedPromptTokens, '8');
  t.is(foldUsage(undefined, judged, replica, now).rejection, undefined);
  const stripped = JSON.parse(JSON.stringify(signed)) as typeof signed;
  delete stripped.report.counters.cachedPromptTokens;
  t.is(foldUsage(undefined, parseSignedUsageReport(stripped), replica, now).rejection?.code, 'SIGNATURE_INVALID');
  t.throws(() => parseSignedUsageReport({ ...signed, report: { ...signed.report, counters: { ...signed.report.counters, cachedPromptTokens: '-1' } } }), { message: /cachedPromptTokens/ });
});
