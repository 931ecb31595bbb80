// Finding: claimAll read the committed leaves in one chain session and claimed in another. When the
// settlement controller committed a new epoch in between, every proof was against a root the contract no
// longer held, and the contract refused them all (the chaos bench printed "0 payees paid 0 units, N
// refused by the contract" five times in its full-size run); paid then waited for the next round. The
// claims' own session now checks that the epoch is still the one the leaves were read for, and claimAll
// reads the new epoch's leaves and claims against them.
import test, { type ExecutionContext } from 'ava';
import { Address } from '@ton/core';
import { claimAll, claimFor, committedLeaves, StaleEpoch } from '../../operator/src/settlement/claims.js';
import type { SettlementChain } from '../../operator/src/settlement/chain/chain.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { addProviderNode, addReplica, getAccount, newPayout, setUpEnv } from './_env.js';
import { Clock, paidUnits, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

/** `chain`, except that just before its `nth` session starts, `meanwhile` runs (a commit landing between two sessions). */
function withCommitBefore(chain: SettlementChain, nth: number, meanwhile: () => Promise<void>): SettlementChain {
  let sessions = 0;
  return new Proxy(chain, {
    get(target, prop) {
      if (prop === 'run') {
        return async (fn: Parameters<SettlementChain['run']>[0]) => {
          if (++sessions === nth) await meanwhile();
          return target.run(fn);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** One host with one replica whose first report (120 units) is committed as epoch 1; `commitMore` meters and commits 60 units more as epoch 2. */
async function epochOneCommitted(t: ExecutionContext, prefix: string, keySeed: number) {
  const env = await setUpEnv(t, { prefix });
  const clock = new Clock();
  const payout = newPayout();
  const key = replicaKey(keySeed);
  await addReplica(env, await addProviderNode(env, payout), 'r-0', key);
  const send = (o: Parameters<typeof report>[0]) => env.ingest.ingest(signReport(key, report({ namespace: env.ns, pod: 'r-0', ...o })));
  const reconciler = reconcilerOf(env, clock);
  t.teardown(() => reconciler.close());
  t.true((await send({ sequence: 1, prompt: 100, gen: 20 })).accepted);
  await settle(env, reconciler, clock, 120n);
  t.is((await getAccount(env)).status?.lastConfirmed?.epoch, 1);
  const commitMore = async () => {
    t.true((await send({ sequence: 2, prompt: 150, gen: 30 })).accepted);
    clock.advance(11);
    await settle(env, reconciler, clock, 180n);
  };
  return { env, clock, payout, commitMore };
}

test('claims read for an epoch that a commit replaced are claimed against the new epoch, and paid in full', async (t) => {
  const { env, clock, payout, commitMore } = await epochOneCommitted(t, 'claims-stale', 21);

  // Epoch 2 is committed after claimAll has read epoch 1's leaves (its first session) and before it
  // claims (its second).
  const chain = sandboxOf(env, clock);
  t.teardown(() => chain.close());
  const racing = withCommitBefore(chain, 2, commitMore);
  const claimed = await claimAll(env.client, racing, { namespace: env.ns, name: env.account });
  t.is(claimed.epoch, 2n, 'claimed against the epoch the chain holds');
  t.deepEqual(claimed.results.map((r) => [r.outcome, r.entitled]), [['paid', 180n]]);
  const address = Address.parse((await getAccount(env)).status!.contractAddress!);
  t.deepEqual(await paidUnits(env, clock, address, [payeeKey(payout)]), [180n]);
});

test('a single claim whose leaves a commit replaced says so instead of sending a proof the contract refuses', async (t) => {
  const { env, clock, payout, commitMore } = await epochOneCommitted(t, 'claim-stale', 22);
  const chain = sandboxOf(env, clock);
  t.teardown(() => chain.close());
  const epochOne = await committedLeaves(env.client, chain, await getAccount(env));
  await commitMore();
  const err = await t.throwsAsync(claimFor(chain, epochOne!, payeeKey(payout)), { instanceOf: StaleEpoch });
  t.regex(err?.message ?? '', /epoch 2 was committed after the leaves of epoch 1 were read/);
  const address = Address.parse((await getAccount(env)).status!.contractAddress!);
  t.deepEqual(await paidUnits(env, clock, address, [payeeKey(payout)]), [0n], 'no claim was sent');
});
