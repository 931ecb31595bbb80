// Crash-point property test. Each run is a seeded random history of one account: replicas report usage
// (restarts, resends after a lost answer, operator crashes inside a fold), and the settlement controller
// is killed at a random point of its cycle — before the pending write, after it and before the send,
// after the send and before the confirmation, after the confirmation — then a fresh controller object is
// started and the chain endpoint is reopened from its persisted state directory (sometimes after losing
// the transaction it was executing, sometimes after being down for a while). Payees claim at random
// moments with their own chain client. Checked after every round on the sandbox's real state:
// committed ≤ metered, paid ≤ committed, per payee paid ≤ its metered units. At the end, with crashes
// stopped: committed == metered, and once every payee has claimed paid == metered, per payee, on the
// contract and on the payees' real balances — never more, no unit lost.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Address } from '@ton/core';
import { Address as TonAddress } from '@ton/core';
import type { KeyPair } from '@ton/crypto';
import type { CrashPoint, SettlementReconciler } from '../../operator/src/controllers/settlement/reconciler.js';
import { claimAll, CLAIM_VALUE } from '../../operator/src/settlement/claims.js';
import { EndpointUnreachableError } from '../../operator/src/settlement/chain/chain.js';
import { payeeKey } from '../../operator/src/settlement/entitlements.js';
import { UsageIngest } from '../../operator/src/settlement/metering.js';
import { accountKey, addProviderNode, addReplica, getAccount, newPayout, setUpEnv, type Env } from './_env.js';
import { balances, chainView, Clock, paidUnits, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

const RUNS = Number(process.env.CHRYSALIS_CRASH_RUNS ?? 5);
const ROUNDS = Number(process.env.CHRYSALIS_CRASH_ROUNDS ?? 10);
const PRICE = 1_000_000n;
const POINTS: CrashPoint[] = ['before-pending-write', 'after-pending-before-send', 'after-send-before-confirm', 'after-confirm'];

class SimulatedCrash extends Error {}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Replica { pod: string; key: KeyPair; payee: bigint; boot: number; seq: number; prompt: bigint; gen: bigint }

async function runHistory(t: ExecutionContext, seed: number) {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const env: Env = await setUpEnv(t, { prefix: `crash-${seed}` });
  const clock = new Clock();
  const payouts: Address[] = [newPayout(), newPayout(), newPayout()];
  const replicas: Replica[] = [];
  for (let i = 0; i < 4; i++) {
    const payout = payouts[i % payouts.length]!;
    const pn = await addProviderNode(env, payout);
    const key = replicaKey(100 + i);
    await addReplica(env, pn, `r-${i}`, key);
    replicas.push({ pod: `r-${i}`, key, payee: payeeKey(payout), boot: 0, seq: 0, prompt: 0n, gen: 0n });
  }
  // The model: units metered per payee, kept by the test independently of the operator.
  const expected = new Map<bigint, bigint>(payouts.map((p) => [payeeKey(p), 0n]));
  const meteredTotal = () => [...expected.values()].reduce((a, b) => a + b, 0n);

  let planned: CrashPoint | undefined;
  let loseNextChainWrite = false;
  let endpointDown = false;
  const hooks = {
    beforePersist: () => {
      if (loseNextChainWrite) {
        loseNextChainWrite = false;
        throw new SimulatedCrash('chain endpoint died before persisting');
      }
    },
    down: () => endpointDown,
  };
  const newReconciler = (): SettlementReconciler => reconcilerOf(env, clock, {
    openChain: () => sandboxOf(env, clock, hooks),
    crashPoint: (p) => {
      if (p === planned) {
        planned = undefined;
        throw new SimulatedCrash(`killed at ${p}`);
      }
    },
  });
  let reconciler = newReconciler();
  let crashes = 0;
  const outcomes = new Map<string, number>();

  for (let round = 0; round < ROUNDS; round++) {
    // ---- usage: a few signed reports, some after a restart, some resent, some folds crashed
    for (let k = 0; k < 1 + Math.floor(random() * 3); k++) {
      const r = pick(replicas);
      if (random() < 0.2) {
        r.boot++;
        r.seq = 0;
        r.prompt = 0n;
        r.gen = 0n;
      }
      const dp = BigInt(Math.floor(random() * 50));
      const dg = BigInt(Math.floor(random() * 20));
      r.seq++;
      r.prompt += dp;
      r.gen += dg;
      const signed = signReport(r.key, report({ namespace: env.ns, pod: r.pod, bootId: `boot-${r.boot}`, sequence: r.seq, prompt: r.prompt, gen: r.gen }));
      if (random() < 0.2) {
        // The operator dies in the middle of the fold: nothing is written, the attester resends.
        const crashing = new UsageIngest({ client: env.client, rest: env.rest, beforeWrite: () => { throw new SimulatedCrash('fold killed'); } });
        await t.throwsAsync(crashing.ingest(signed), { instanceOf: SimulatedCrash });
      }
      const first = await env.ingest.ingest(signed);
      t.true(first.accepted, JSON.stringify(first.reasons));
      if (random() < 0.3) {
        // The answer was lost and the attester resends: folded already, counted once.
        const again = await env.ingest.ingest(signed);
        t.is(again.reasons[0]?.code, 'DUPLICATE_REPORT');
      }
      expected.set(r.payee, expected.get(r.payee)! + dp + dg);
    }

    // ---- one controller cycle, maybe killed somewhere in it
    planned = random() < 0.75 ? pick(POINTS) : undefined;
    loseNextChainWrite = random() < 0.15;
    endpointDown = random() < 0.1;
    try {
      for (let step = 0; step < 3; step++) {
        const res = await reconciler.reconcile(accountKey(env));
        if ((res.requeueAfterMs ?? 1) > 0) break;
      }
      outcomes.set('completed', (outcomes.get('completed') ?? 0) + 1);
    } catch (err) {
      const kind = err instanceof SimulatedCrash ? err.message : err instanceof EndpointUnreachableError ? 'endpoint down' : `error: ${String(err)}`;
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      if (!(err instanceof SimulatedCrash) && !(err instanceof EndpointUnreachableError)) throw err;
      // Kill: abandon the controller object (no close, no cleanup); start a fresh one and a fresh endpoint.
      crashes++;
      reconciler = newReconciler();
    }
    planned = undefined;
    loseNextChainWrite = false;
    endpointDown = false;
    clock.advance(1 + Math.floor(random() * 60));

    // ---- payees claim now and then, through their own client of the chain
    if (random() < 0.35) {
      const chain = sandboxOf(env, clock);
      try {
        const acct = await getAccount(env);
        if (acct.status?.contractAddress) await claimAll(env.client, chain, acct);
      } finally {
        await chain.close();
      }
    }

    // ---- invariants on the chain's real state
    const acct = await getAccount(env);
    if (acct.status?.contractAddress) {
      const view = await chainView(env, clock);
      t.true(view.committed.totalUnits <= meteredTotal(), `round ${round}: committed ${view.committed.totalUnits} > metered ${meteredTotal()}`);
      t.true(view.committed.paidTotal <= view.committed.totalUnits, `round ${round}: paid > committed`);
      const paid = await paidUnits(env, clock, TonAddress.parse(acct.status.contractAddress), [...expected.keys()]);
      [...expected.values()].forEach((units, i) => t.true(paid[i]! <= units, `round ${round}: payee ${i} paid ${paid[i]} > metered ${units}`));
    }
  }

  // ---- crashes stop: settle, everyone claims, and the books balance exactly
  reconciler = newReconciler();
  clock.advance(400); // past any pending validity and the commit period
  await settle(env, reconciler, clock, meteredTotal(), 40);
  const chain = sandboxOf(env, clock);
  await claimAll(env.client, chain, await getAccount(env));
  await chain.close();
  await reconciler.reconcile(accountKey(env));
  await reconciler.close();

  const acct = await getAccount(env);
  const address = TonAddress.parse(acct.status!.contractAddress!);
  const view = await chainView(env, clock);
  const total = meteredTotal();
  t.is(view.committed.totalUnits, total, 'committed == metered');
  t.is(view.committed.paidTotal, total, 'paid == metered');
  t.deepEqual(await paidUnits(env, clock, address, [...expected.keys()]), [...expected.values()], 'per payee paid == metered');
  t.deepEqual(acct.status?.totals, { metered: total.toString(), committed: total.toString(), paid: total.toString() });
  // Real balances: each payee holds exactly its units x price plus what was left of the gas its claims
  // carried (each claim forwards less than CLAIM_VALUE), never less than what it earned.
  const bal = await balances(env, clock, payouts);
  const units = [...expected.values()];
  bal.forEach((b, i) => {
    t.true(b >= units[i]! * PRICE, `payee ${i}: balance ${b} < earned ${units[i]! * PRICE}`);
    t.true(b < units[i]! * PRICE + BigInt(ROUNDS + 2) * CLAIM_VALUE, `payee ${i}: balance ${b} far above earned ${units[i]! * PRICE}`);
  });
  t.log(`seed ${seed}: ${total} units, ${crashes} restarts; ${[...outcomes].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  return crashes;
}

for (let run = 0; run < RUNS; run++) {
  const seed = Number(process.env.CHRYSALIS_CRASH_SEED ?? 1000) + run;
  test(`killing the settlement controller and the chain endpoint at random points loses and duplicates no unit (seed ${seed})`, async (t) => {
    t.timeout(180_000);
    const crashes = await runHistory(t, seed);
    t.true(crashes > 0);
  });
}
