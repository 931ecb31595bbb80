import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { payeeTotals, plan, type PlanInput } from '../../operator/src/controllers/settlementaccount/plan.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { payeeOf } from '../../operator/src/settlement/metering.js';
import { newPayout } from './_env.js';

const NOW = 1_000_000;
const base: PlanInput = {
  now: NOW,
  chain: { seqno: 3, root: 0xaan, epoch: 3n, totalUnits: 100n },
  desired: { root: 0xbbn, total: 150n },
  lastCommitAt: NOW - 400,
  periodSeconds: 300,
};
const pending = { epoch: 4n, seqno: 3, root: 0xbbn, total: 150n, validUntil: NOW + 60 };

const table: Array<[string, Partial<PlanInput>, (p: ReturnType<typeof plan>) => boolean]> = [
  ['with the period over and new usage, a new commit takes the next epoch and the chain seqno', {},
    (p) => p.action === 'commit' && p.pending.epoch === 4n && p.pending.seqno === 3 && p.pending.root === 0xbbn && p.pending.total === 150n && p.pending.validUntil === NOW + 120],
  ['before the period is over nothing is committed', { lastCommitAt: NOW - 100 },
    (p) => p.action === 'wait' && p.reason === 'period' && p.afterSeconds === 200],
  ['the push threshold commits before the period ends', { lastCommitAt: NOW - 100, pushThresholdUnits: 50n },
    (p) => p.action === 'commit'],
  ['a push threshold not yet reached waits for the period', { lastCommitAt: NOW - 100, pushThresholdUnits: 51n },
    (p) => p.action === 'wait'],
  ['the first commit goes out at once', { lastCommitAt: undefined, chain: { seqno: 0, root: 0n, epoch: 0n, totalUnits: 0n } },
    (p) => p.action === 'commit' && p.pending.epoch === 1n && p.pending.seqno === 0],
  ['when the chain already holds the desired root the account is synced', { desired: { root: 0xaan, total: 100n } },
    (p) => p.action === 'wait' && p.reason === 'synced'],
  ['metered entitlements below the committed total are never sent', { desired: { root: 0xccn, total: 99n } },
    (p) => p.action === 'blocked'],
  ['a pending commit the chain has applied (seqno moved) is confirmed', { pending, chain: { seqno: 4, root: 0xbbn, epoch: 4n, totalUnits: 150n } },
    (p) => p.action === 'confirm' && p.pending === pending],
  ['a pending commit never sent (crash after recording it) is sent', { pending },
    (p) => p.action === 'send' && p.pending === pending],
  ['a pending commit sent moments ago is waited for, not resent', { pending: { ...pending, sentAt: NOW - 5 } },
    (p) => p.action === 'wait' && p.reason === 'pending' && p.afterSeconds === 10],
  ['a pending commit unconfirmed after the resend interval is sent again, unchanged', { pending: { ...pending, sentAt: NOW - 20 } },
    (p) => p.action === 'send' && p.pending.seqno === 3 && p.pending.validUntil === NOW + 60],
  ['a pending commit just past validUntil is given the skew margin before it counts as dead', { pending: { ...pending, validUntil: NOW - 10, sentAt: NOW - 70 } },
    (p) => p.action === 'wait' && p.afterSeconds === 20],
  ['a dead pending commit is replaced at once by a new one with the same epoch and a fresh validUntil', { pending: { ...pending, validUntil: NOW - 31, sentAt: NOW - 90 }, lastCommitAt: NOW - 10 },
    (p) => p.action === 'commit' && p.replacesExpired && p.pending.epoch === 4n && p.pending.seqno === 3 && p.pending.validUntil === NOW + 120],
];

for (const [title, input, check] of table) {
  test(title, (t) => {
    const p = plan({ ...base, ...input });
    t.true(check(p), JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  });
}

function node(name: string, payout: string, units: string, account = 'ns/acct'): ProviderNode {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
    spec: { nodeName: name, tee: 'simulated', gpus: { model: 'H100', count: 8 }, payoutAddress: payout },
    status: { usage: [{ account, units, payees: [{ payee: payeeOf(payout), units }] }, { account: 'ns/other', units: '999', payees: [{ payee: payeeOf(payout), units: '999' }] }] },
  };
}

test('payee totals sum a provider\'s hosts for the account and ignore other accounts', (t) => {
  const [a, b] = [newPayout(), newPayout()];
  const r = payeeTotals([node('n1', a.toRawString(), '10'), node('n2', b.toString(), '5'), node('n3', a.toString({ bounceable: false }), '7')], 'ns/acct');
  t.deepEqual([...r.leaves].sort(), [[payeeKey(a), 17n], [payeeKey(b), 5n]].sort());
  t.is(r.metered, 22n);
  t.deepEqual(r.unpayable, []);
});

test('a payee never gets less than its last committed leaf, even when its host is gone', (t) => {
  const [a, b] = [newPayout(), newPayout()];
  const r = payeeTotals([node('n1', a.toRawString(), '10')], 'ns/acct', new Map([[payeeKey(a), 4n], [payeeKey(b), 9n]]));
  t.is(r.leaves.get(payeeKey(a)), 10n);
  t.is(r.leaves.get(payeeKey(b)), 9n);
});

test('a masterchain payout address is reported unpayable and left out of the dictionary', (t) => {
  const r = payeeTotals([node('n1', `-1:${'ab'.repeat(32)}`, '10')], 'ns/acct');
  t.is(r.leaves.size, 0);
  t.is(r.metered, 10n);
  t.is(r.unpayable[0]?.node, 'n1');
});
