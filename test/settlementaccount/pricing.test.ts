// Pricing through metering and settlement: the account's token multipliers and the host's priceCoefficient
// turn tokens into the units the contract pays pricePerUnitNanoton each; the fraction of a unit is carried
// in the host's status until it completes one; a report for an account that does not exist is refused.
import test from 'ava';
import { Address } from '@ton/core';
import { claimAll } from '../../operator/src/settlement/claims.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { loadLeaves } from '../../operator/src/settlement/leaves-store.js';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { addProviderNode, addReplica, getAccount, listProviderNodes, newPayout, setUpEnv } from './_env.js';
import { chainView, Clock, paidUnits, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

test('units = tokens × multiplier × coefficient, the fraction is carried, and the contract pays units × price', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-price', price: '2' });
  // prompt tokens 0.5×, completion tokens 3.0×; the host is 1.5×.
  await env.client.patchMerge(SettlementAccounts, env.account, env.ns, { spec: { tokenPriceMultipliers: { promptTokens: 5_000, completionTokens: 30_000 } } });
  const payout = newPayout();
  const pn = await addProviderNode(env, payout);
  await env.client.patchMerge(ProviderNodes, pn, undefined, { spec: { priceCoefficient: 1_500 } });
  const key = replicaKey(41);
  await addReplica(env, pn, 'r-0', key);
  const send = (sequence: number, prompt: number, gen: number) => env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence, prompt, gen })));
  const entry = async () => (await listProviderNodes(env)).find((n) => n.metadata.name === pn)!.status!.usage!.find((u) => u.account === `${env.ns}/acct`)!;

  // (10 × 0.5 + 3 × 3) × 1.5 = 21 units
  t.is((await send(1, 10, 3)).delta?.units, 21n);
  // one more prompt token: 0.75 of a unit, carried
  t.is((await send(2, 11, 3)).delta?.units, 0n);
  let e = await entry();
  t.is(e.units, '21');
  t.deepEqual(e.payees, [{ payee: payout.toRawString(), units: '21', remainder: '7500000' }]);
  t.is(e.promptTokens, '11', 'tokens are kept as counted');
  // one more: 1.5 units carried → 1 credited, 0.5 carried
  t.is((await send(3, 12, 3)).delta?.units, 1n);
  e = await entry();
  t.is(e.units, '22');
  t.is(e.payees?.[0]?.remainder, '5000000');

  const clock = new Clock();
  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  await settle(env, reconciler, clock, 22n);
  const chain = sandboxOf(env, clock);
  const claimed = await claimAll(env.client, chain, { namespace: env.ns, name: env.account });
  await chain.close();
  t.deepEqual(claimed.results.map((r) => r.outcome), ['paid']);
  const view = await chainView(env, clock);
  t.is(view.committed.totalUnits, 22n);
  const acct = await getAccount(env);
  t.deepEqual(await paidUnits(env, clock, Address.parse(acct.status!.contractAddress!), [payeeKey(payout)]), [22n]);
  t.is(acct.status?.totals?.committed, '22');
  // The published leaves carry the units and what they earned: 22 units × 2 nanoton = 44 nanoton.
  const stored = (await loadLeaves(env.client, env.ns, env.account, view.committed.epoch))!;
  t.is(stored.leaves.get(payeeKey(payout)), 22n);
  t.is(stored.pricePerUnitNanoton, 2n);
  t.is(stored.earnedNanoton?.get(payeeKey(payout)), 44n);
});

test('a report for a SettlementAccount that does not exist is refused with UNKNOWN_ACCOUNT and folds nothing', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-noacct' });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(42);
  await addReplica(env, pn, 'r-0', key);
  await env.client.patchMerge(InferencePools, 'pool', env.ns, { spec: { settlementAccountRef: { name: 'missing' } } });
  const r = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 5, gen: 5 })));
  t.false(r.accepted);
  t.is(r.reasons[0]?.code, 'UNKNOWN_ACCOUNT');
  t.regex(r.reasons[0]!.message, /SettlementAccount .*\/missing .* does not exist/);
  t.deepEqual((await listProviderNodes(env)).find((n) => n.metadata.name === pn)!.status?.usage ?? [], []);
});

test('prompt tokens read from the prefix cache are priced at the account\'s cachedPromptTokens multiplier', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-cached' });
  await env.client.patchMerge(SettlementAccounts, env.account, env.ns, { spec: { tokenPriceMultipliers: { cachedPromptTokens: 1_000 } } });
  const pn = await addProviderNode(env, newPayout());
  const key = replicaKey(43);
  await addReplica(env, pn, 'r-0', key);
  // 100 prompt tokens, 80 of them cached (0.1×): 20 + 8 = 28 units, + 10 completion tokens = 38
  const r = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: 1, prompt: 100, gen: 10, cached: 80 })));
  t.true(r.accepted, JSON.stringify(r.reasons));
  t.is(r.delta?.units, 38n);
  const entry = (await listProviderNodes(env)).find((n) => n.metadata.name === pn)!.status!.usage!.find((u) => u.account === `${env.ns}/acct`)!;
  t.like(entry, { promptTokens: '100', cachedPromptTokens: '80', generationTokens: '10', units: '38' });
});
