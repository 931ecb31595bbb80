import test from 'ava';
import { Address } from '@ton/core';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { claimAll } from '../../operator/src/settlement/claims.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { addProviderNode, addReplica, getAccount, newPayout, setUpEnv } from './_env.js';
import { chainView, Clock, paidUnits, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

// Whoever can edit a ProviderNode could once drain the account: each new payoutAddress was credited with
// the host's whole metered history while every earlier address kept what had been committed to it.
test('rotating a ProviderNode\'s payout address every period pays no unit twice', async (t) => {
  const env = await setUpEnv(t, { prefix: 'settle-rotate' });
  const clock = new Clock();
  const addresses = [newPayout()];
  const pn = await addProviderNode(env, addresses[0]!);
  const key = replicaKey(61);
  await addReplica(env, pn, 'r-0', key);
  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());

  let metered = 0n;
  const perAddress: bigint[] = [];
  for (let period = 1; period <= 4; period++) {
    const r = await env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', sequence: period, prompt: period * 100, gen: 0 })));
    t.true(r.accepted, JSON.stringify(r.reasons));
    metered += 100n;
    perAddress[period - 1] = 100n;
    await settle(env, reconciler, clock, metered);
    t.is((await chainView(env, clock)).committed.totalUnits, metered, `period ${period}: the chain holds exactly the metered units`);
    // The provider moves its payout to a fresh address for the next period.
    const next = newPayout();
    addresses.push(next);
    await env.client.patchMerge<ProviderNode & KubeObject>(ProviderNodes, pn, undefined, { spec: { payoutAddress: next.toRawString() } });
    clock.advance(11);
  }
  const acct = await getAccount(env);
  t.is(acct.status?.totals?.metered, metered.toString());
  t.is(acct.status?.totals?.committed, metered.toString());
  // Each address is owed exactly what was metered while it was the payout address: claims pay that.
  const contract = Address.parse(acct.status!.contractAddress!);
  const chain = sandboxOf(env, clock);
  await claimAll(env.client, chain, { namespace: env.ns, name: env.account });
  await chain.close();
  t.deepEqual(await paidUnits(env, clock, contract, addresses.slice(0, 4).map((a) => payeeKey(a))), perAddress);
});
