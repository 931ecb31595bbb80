// The settlement contract counts units in uint64. A signed counter past that range must be refused when it
// is reported: once folded, no commit could hold it and the whole account would stop settling.
import test from 'ava';
import { addUsage, foldUsage, UNITS_MAX, usageLimitRejection, ZERO_DELTA, type AttestedReplica } from '../../operator/src/settlement/metering.js';
import { addProviderNode, addReplica, getAccount, newPayout, setUpEnv } from './_env.js';
import { chainView, Clock, reconcilerOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

const now = new Date('2025-06-15T12:00:00Z');
const key = replicaKey(71);
const replica: AttestedReplica = {
  pod: 'ns/r-0', podUid: 'uid-1', publicKey: key.publicKey.toString('hex'), attested: true, expiresAt: '2025-06-15T13:00:00Z',
};

test('a signed counter of 2^64 is refused at ingestion with COUNTER_OUT_OF_RANGE naming the field', (t) => {
  const f = foldUsage(undefined, signReport(key, report({ sequence: 1, prompt: 1n << 64n, gen: 0 })), replica, now);
  t.is(f.rejection?.code, 'COUNTER_OUT_OF_RANGE');
  t.regex(f.rejection!.message, /report\.counters\.promptTokens/);
  t.is(f.delta.units, 0n);
  t.is(f.newState, undefined);
  // 2^64 - 1 itself fits.
  t.is(foldUsage(undefined, signReport(key, report({ sequence: 1, prompt: UNITS_MAX, gen: 0 })), replica, now).rejection, undefined);
});

test('a fold that would take a host\'s units past 2^64 - 1 is refused; one that fits is not', (t) => {
  const usage = addUsage(undefined, 'ns/acct', '0:aa', { ...ZERO_DELTA, promptTokens: UNITS_MAX - 5n, units: UNITS_MAX - 5n });
  t.is(usageLimitRejection(usage, 'ns/acct', '0:aa', { ...ZERO_DELTA, generationTokens: 6n, units: 6n })?.code, 'COUNTER_OUT_OF_RANGE');
  t.is(usageLimitRejection(usage, 'ns/acct', '0:aa', { ...ZERO_DELTA, generationTokens: 5n, units: 5n }), undefined);
  t.is(usageLimitRejection(usage, 'ns/other', '0:aa', { ...ZERO_DELTA, generationTokens: 6n, units: 6n }), undefined);
});

test('one replica reporting past uint64 does not freeze settlement for the account\'s other payees', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-u64' });
  const clock = new Clock();
  const [payA, payB] = [newPayout(), newPayout()];
  const [pnA, pnB] = [await addProviderNode(env, payA), await addProviderNode(env, payB)];
  const [kA, kB] = [replicaKey(72), replicaKey(73)];
  await addReplica(env, pnA, 'r-a', kA);
  await addReplica(env, pnB, 'r-b', kB);
  // prompt + generation = 2^64 + 4 units: each counter fits uint64, their sum does not.
  const huge = await env.ingest.ingest(signReport(kA, report({ namespace: env.ns, pod: 'r-a', sequence: 1, prompt: UNITS_MAX, gen: 5 })));
  t.false(huge.accepted, 'a report whose units exceed uint64 is refused');
  t.is(huge.reasons[0]?.code, 'COUNTER_OUT_OF_RANGE');
  t.true((await env.ingest.ingest(signReport(kB, report({ namespace: env.ns, pod: 'r-b', sequence: 1, prompt: 40, gen: 2 })))).accepted);

  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, 42n);
  const view = await chainView(env, clock);
  t.is(view.committed.totalUnits, 42n);
  const acct = await getAccount(env);
  t.is(acct.status?.conditions?.find((c) => c.type === 'Synced')?.status, 'True');
});
