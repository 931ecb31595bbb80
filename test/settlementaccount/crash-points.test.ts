// Crash-point property test (issue 7). Each run is a seeded random history of one SettlementAccount
// (price 1 TON a unit, 2.5 % commission to a fee address of its own) with three payees, four replicas on
// four ProviderNodes, and ROUNDS rounds of:
//   - usage: replicas send signed cumulative reports, some after a replica restart (new boot id), some
//     resent after a lost answer; the usage fold is killed before its write now and then and restarted
//     (a fresh UsageIngest), and the attester resends to the new one;
//   - one settlement controller cycle, killed at a crash point of its reconciler — every name of
//     CrashPoint, armed until it fires, so every seed hits every point — and/or the chain endpoint dies
//     after executing a unit and before persisting it (the transaction is lost; the controller dies with
//     it, or lives on and retries), or is down. A killed controller is abandoned as is (no close) and a
//     fresh one starts, with its endpoint reopened from the state dir;
//   - the chain endpoint alone restarts now and then (reopened from its state dir under a live controller,
//     sometimes leaving a stale lock and a torn state.json.tmp behind, as a kill -9 mid-write would);
//   - the clock moves 1–60 s, sometimes 150–450 s (a recorded commit expires unapplied and is rebuilt);
//   - payees claim at random moments through their own client of the chain, which sometimes loses the
//     claims it executed; earlier claim messages sometimes arrive again (resent or delayed copies).
// After every round, on the sandbox's real state and the apiserver's: metered in Kubernetes == the units
// the test reported (none lost or counted twice), committed <= metered, the committed epoch's stored
// leaves hash to the root on chain and sum to its total, paid <= committed, per payee paid <= leaf <=
// metered, and each payee's real balance matches what its paid counter is worth (see checkBalances).
// At the end, crashes stop: committed on chain == metered in Kubernetes == the reported units; after
// claimAll, per payee paid == metered on the contract, nothing pending, and each payee's real balance is
// its units × price − commission plus the claim gas its claims forwarded (each claim forwards what is
// left of CLAIM_VALUE, and all of it together is less than one unit's net, so one unit lost or paid
// twice fails); the fee address holds the commission less forwarding fees, never more.
//
// Reproduce a seed: CHRYSALIS_CRASH_SEED=<seed> CHRYSALIS_CRASH_RUNS=1 npx tsx test/run.ts <this file>.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Address, toNano } from '@ton/core';
import type { KeyPair } from '@ton/crypto';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { pendingOf, type CrashPoint, type SettlementReconciler } from '../../operator/src/controllers/settlementaccount/reconciler.js';
import { claimAll, CLAIM_VALUE } from '../../operator/src/settlement/claims.js';
import { EndpointUnreachableError, type ChainSession, type SettlementChain } from '../../operator/src/settlement/chain/chain.js';
import type { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';
import { Settlement } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements, entitlementProof, payeeKey } from '../../operator/src/settlement/entitlements.js';
import { loadLeaves, type StoredEpoch } from '../../operator/src/settlement/leaves-store.js';
import { meteredUnitsOf, UsageIngest } from '../../operator/src/settlement/metering.js';
import { SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import type { KubeObject } from '../../operator/src/kube/resource.js';
import { accountKey, addProviderNode, addReplica, getAccount, listProviderNodes, newPayout, setUpEnv, type Env } from './_env.js';
import { Clock, reconcilerOf, sandboxOf, settle } from './_settle.js';
import { replicaKey, report, signReport } from './_usage.js';

const RUNS = Number(process.env.CHRYSALIS_CRASH_RUNS ?? 5);
const ROUNDS = Number(process.env.CHRYSALIS_CRASH_ROUNDS ?? 10);
const FIRST_SEED = Number(process.env.CHRYSALIS_CRASH_SEED ?? 1000);

// One unit is worth 1 TON and the commission is 2.5 %: a unit's net (0.975 TON) is more than all the
// claim gas a payee can get forwarded in one history (at most ROUNDS + 1 claims × CLAIM_VALUE), so a
// balance off by a single unit, either way, fails the balance checks.
const PRICE = toNano('1');
const COMMISSION_BPS = 250n;
const FUNDING = toNano('5000');
/** Forwarding fees a commission message can lose on its way (one bodyless message, ~0.0004 TON). */
const FEE_MSG_TOLERANCE = toNano('0.002');

// Every crash point of the reconciler: `satisfies` fails the typecheck when one is added or renamed there
// and not here.
const CRASH_POINTS = {
  'before-pending-write': true,
  'after-pending-before-send': true,
  'after-send-before-confirm': true,
  'after-confirm': true,
} as const satisfies Record<CrashPoint, true>;
const POINTS = Object.keys(CRASH_POINTS) as CrashPoint[];

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

/** A chain endpoint that can be killed and reopened from its state directory under a live controller. */
class Endpoint implements SettlementChain {
  readonly network = 'sandbox' as const;
  private current: SandboxChain;
  constructor(private readonly open: () => SandboxChain) {
    this.current = open();
  }
  run<T>(fn: (session: ChainSession) => Promise<T>): Promise<T> {
    return this.current.run(fn);
  }
  /** Kill (the old object is abandoned, not closed) and start again from what is on disk. */
  restart(): void {
    this.current = this.open();
  }
  close(): Promise<void> {
    return this.current.close();
  }
}

interface Replica { pod: string; key: KeyPair; payee: bigint; boot: number; seq: number; prompt: bigint; gen: bigint }

interface ChainFacts {
  address: Address;
  seqno: number;
  epoch: bigint;
  root: bigint;
  committed: bigint;
  paidTotal: bigint;
  /** nanotons the contract lacks to cover what is owed */
  shortfall: bigint;
  /** per payee, in payee order */
  paid: bigint[];
  balances: bigint[];
  feeBalance: bigint;
}

/** Everything the checks need, read from the sandbox chain's persisted state in one unit of work. */
async function readChain(chain: SandboxChain, address: Address, payees: Address[], fee: Address): Promise<ChainFacts> {
  return chain.run(async (s) => {
    const c = Settlement.createFromAddress(address);
    const p = s.provider(address);
    const committed = await c.getCommitted(p);
    const paid: bigint[] = [];
    const balances: bigint[] = [];
    for (const a of payees) {
      paid.push(await c.getPaidUnits(p, payeeKey(a)));
      balances.push((await s.provider(a).getState()).balance);
    }
    return {
      address, seqno: await c.getSeqno(p), epoch: committed.epoch, root: committed.root,
      committed: committed.totalUnits, paidTotal: committed.paidTotal, shortfall: committed.shortfall, paid, balances,
      feeBalance: (await s.provider(fee).getState()).balance,
    };
  });
}

function net(units: bigint): bigint {
  const gross = units * PRICE;
  return gross - (gross * COMMISSION_BPS) / 10_000n;
}

function commission(units: bigint): bigint {
  return (units * PRICE * COMMISSION_BPS) / 10_000n;
}

async function runHistory(t: ExecutionContext, seed: number) {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const env: Env = await setUpEnv(t, { prefix: `crash-${seed}`, price: PRICE.toString() });
  const feeAddress = newPayout();
  // A commission to a fee address of its own, set before the first reconcile deploys the contract.
  await env.client.patchMerge<SettlementAccount & KubeObject>(SettlementAccounts, env.account, env.ns, {
    spec: { commissionBasisPoints: Number(COMMISSION_BPS), feeAddress: feeAddress.toRawString() },
  });
  const clock = new Clock();
  const payouts: Address[] = [newPayout(), newPayout(), newPayout()];
  const payeeKeys = payouts.map((p) => payeeKey(p));
  const replicas: Replica[] = [];
  for (let i = 0; i < 4; i++) {
    const payout = payouts[i % payouts.length]!;
    const pn = await addProviderNode(env, payout);
    const key = replicaKey(100 + i);
    await addReplica(env, pn, `r-${i}`, key);
    replicas.push({ pod: `r-${i}`, key, payee: payeeKey(payout), boot: 0, seq: 0, prompt: 0n, gen: 0n });
  }
  // The model: units per payee, kept by the test from the reports it sent, independently of the operator.
  const expected = new Map<bigint, bigint>(payeeKeys.map((k) => [k, 0n]));
  const modelTotal = () => [...expected.values()].reduce((a, b) => a + b, 0n);
  /** Successful claims per payee: each forwarded less than CLAIM_VALUE of claim gas to the payee. */
  const claims = payeeKeys.map(() => 0n);

  // ---- fault injection
  const fired = new Map<string, number>();
  const count = (what: string) => fired.set(what, (fired.get(what) ?? 0) + 1);
  let armed: CrashPoint | undefined;
  /** The endpoint dies after executing the next unit that changed the chain, before persisting it. */
  let loseNextChainWrite: 'with the controller' | 'alone' | undefined;
  let endpointDown = false;
  const hooks = {
    beforePersist: () => {
      const lose = loseNextChainWrite;
      loseNextChainWrite = undefined;
      // The whole machine goes (the controller dies with it), or only the endpoint: the controller sees a
      // broken connection and retries with the same in-memory state.
      if (lose === 'with the controller') throw new SimulatedCrash('chain endpoint and controller died before persisting');
      if (lose === 'alone') throw new EndpointUnreachableError('chain endpoint died before persisting');
    },
    down: () => endpointDown,
  };
  let endpoint!: Endpoint;
  const newReconciler = (): SettlementReconciler => {
    endpoint = new Endpoint(() => sandboxOf(env, clock, hooks));
    return reconcilerOf(env, clock, {
      sandboxFunding: FUNDING,
      openChain: () => endpoint,
      crashPoint: (p) => {
        if (p === armed) {
          armed = undefined;
          throw new SimulatedCrash(`killed at ${p}`);
        }
      },
    });
  };
  // The test's own clients of the chain, opened once: an observer that only reads (it reloads whatever the
  // others persisted), and the payees' claimant, whose endpoint can lose the claims it just executed.
  const observer = sandboxOf(env, clock);
  let loseClaims = false;
  const claimant = sandboxOf(env, clock, { beforePersist: () => { if (loseClaims) throw new SimulatedCrash('claims lost'); } });
  t.teardown(async () => {
    await observer.close();
    await claimant.close();
  });
  const newIngest = () => new UsageIngest({ client: env.client, events: env.events, providerNodes: env.providerNodeCache });
  let ingest = newIngest();
  let reconciler = newReconciler();

  const meteredInKube = async (): Promise<{ total: bigint; perPayee: Map<bigint, bigint> }> => {
    const perPayee = new Map<bigint, bigint>(payeeKeys.map((k) => [k, 0n]));
    let total = 0n;
    for (const node of await listProviderNodes(env)) {
      const units = meteredUnitsOf(node, `${env.ns}/${env.account}`);
      total += units;
      const k = payeeKey(Address.parse(node.spec.payoutAddress));
      perPayee.set(k, (perPayee.get(k) ?? 0n) + units);
    }
    return { total, perPayee };
  };

  // Per payee, on the chain's real state: the balance is what its paid counter is worth, plus claim gas.
  const checkBalances = (where: string, facts: ChainFacts) => {
    facts.paid.forEach((paid, i) => {
      const bal = facts.balances[i]!;
      t.true(bal >= net(paid), `${where}: payee ${i} holds ${bal}, less than the ${net(paid)} its ${paid} paid units are worth`);
      t.true(bal - net(paid) <= claims[i]! * CLAIM_VALUE, `${where}: payee ${i} holds ${bal}, more than ${net(paid)} for ${paid} paid units plus the gas of ${claims[i]} claims`);
    });
    const fees = commission(facts.paidTotal);
    t.true(facts.feeBalance <= fees, `${where}: fee address holds ${facts.feeBalance}, more than the ${fees} commission on ${facts.paidTotal} paid units`);
    const feeMessages = claims.reduce((a, b) => a + b, 0n);
    t.true(facts.feeBalance >= fees - feeMessages * FEE_MSG_TOLERANCE, `${where}: fee address holds ${facts.feeBalance}, less than the ${fees} commission on ${facts.paidTotal} paid units`);
  };

  let lastSeqno: number | undefined;
  /** The leaves the payees last claimed with (their messages may arrive again). */
  let claimed: StoredEpoch | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const where = `seed ${seed} round ${round}`;
    // ---- usage: a few signed reports, some after a restart, some resent, some folds killed
    for (let k = 0; k < 1 + Math.floor(random() * 3); k++) {
      const r = pick(replicas);
      if (random() < 0.2) {
        r.boot++;
        r.seq = 0;
        r.prompt = 0n;
        r.gen = 0n;
      }
      const dp = BigInt(Math.floor(random() * 30));
      const dg = BigInt(Math.floor(random() * 12));
      r.seq++;
      r.prompt += dp;
      r.gen += dg;
      const signed = signReport(r.key, report({ namespace: env.ns, pod: r.pod, bootId: `boot-${r.boot}`, sequence: r.seq, prompt: r.prompt, gen: r.gen }));
      if (random() < 0.2) {
        // The fold is killed after computing and before writing: nothing is written; it restarts and the
        // attester resends to the new one.
        const dying = new UsageIngest({ client: env.client, providerNodes: env.providerNodeCache, beforeWrite: () => { throw new SimulatedCrash('fold killed'); } });
        await t.throwsAsync(dying.ingest(signed), { instanceOf: SimulatedCrash }, where);
        ingest = newIngest();
        count('fold killed');
      }
      const first = await ingest.ingest(signed);
      t.true(first.accepted, `${where}: ${JSON.stringify(first.reasons)}`);
      if (random() < 0.3) {
        // The answer was lost and the attester resends (to a restarted fold, sometimes): counted once.
        if (random() < 0.5) ingest = newIngest();
        const again = await ingest.ingest(signed);
        t.is(again.reasons[0]?.code, 'DUPLICATE_REPORT', where);
      }
      expected.set(r.payee, expected.get(r.payee)! + dp + dg);
    }

    // ---- one controller cycle, maybe killed somewhere in it
    if (!armed && random() < 0.75) {
      // Points that have not fired yet in this history first, so that every seed hits every point.
      const missing = POINTS.filter((p) => !fired.has(`killed at ${p}`));
      armed = pick(missing.length > 0 ? missing : POINTS);
    }
    loseNextChainWrite = random() < 0.2 ? pick(['with the controller', 'alone'] as const) : undefined;
    endpointDown = random() < 0.1;
    const pendingBefore = pendingOf((await getAccount(env)).status);
    // Coverage: a commit recorded, never applied and past its validity (+30 s skew), to be rebuilt.
    if (pendingBefore && lastSeqno !== undefined && lastSeqno <= pendingBefore.seqno && clock.now >= pendingBefore.validUntil + 30) count('cycle began with an expired pending');
    let crashed = false;
    try {
      for (let step = 0; step < 3; step++) {
        const res = await reconciler.reconcile(accountKey(env));
        if ((res.requeueAfterMs ?? 1) > 0) break;
      }
      count('completed');
    } catch (err) {
      if (err instanceof SimulatedCrash) {
        // Kill: abandon the controller object (no close, no cleanup); start a fresh one with a fresh endpoint.
        count(err.message);
        crashed = true;
        reconciler = newReconciler();
      } else if (err instanceof EndpointUnreachableError) {
        // The controller lives on (its work queue retries with backoff); a dead endpoint is restarted.
        count(err.message);
        if (!endpointDown) endpoint.restart();
      } else {
        throw err;
      }
    }
    loseNextChainWrite = undefined;
    endpointDown = false;

    // ---- the chain endpoint alone dies and restarts under the live controller
    if (random() < 0.25) {
      if (random() < 0.5) {
        // Killed mid-write: a torn temporary file and its lock (held by a dead process, or by this one).
        writeFileSync(join(env.stateDir, 'state.json.tmp'), '{"version":1,"generation":');
        const holder = random() < 0.5 ? process.pid : spawnSync(process.execPath, ['-e', '']).pid;
        writeFileSync(join(env.stateDir, 'lock'), String(holder));
      }
      endpoint.restart();
      count('endpoint restarted');
    }
    // Time passes; after a kill the restart sometimes takes long enough for a recorded commit to expire.
    clock.advance(random() < (crashed ? 0.35 : 0.1) ? 150 + Math.floor(random() * 300) : 1 + Math.floor(random() * 60));

    // ---- payees claim now and then, through their own client of the chain
    const acctNow = await getAccount(env);
    if (random() < 0.4 && acctNow.status?.contractAddress) {
      const address = Address.parse(acctNow.status.contractAddress);
      if (claimed && random() < 0.4) {
        // Claim messages of an earlier claim round arrive again (a claimant resending after it lost the
        // answer, or a delayed copy): the proofs are still valid for the root or the one before it, but
        // what they prove was paid already, so nothing moves unless a payee had not claimed since.
        const stored = claimed;
        await claimant.run(async (s) => {
          const c = Settlement.createFromAddress(address);
          for (const key of stored.leaves.keys()) {
            const before = await c.getPaidUnits(s.provider(address), key);
            await c.sendClaim(s.provider(address), s.sender(), { value: CLAIM_VALUE, payee: key, proof: entitlementProof(stored.entitlements, [key]) });
            const after = await c.getPaidUnits(s.provider(address), key);
            t.true(after <= stored.leaves.get(key)!, `${where}: a replayed claim of epoch ${stored.epoch} paid ${after} units, more than its leaf ${stored.leaves.get(key)}`);
            if (after > before) claims[payeeKeys.indexOf(key)]! += 1n;
            count(after > before ? 'replayed claim paid (late claimant)' : 'replayed claim refused');
          }
        });
      }
      // The payees' own client of the chain; sometimes it dies after the claims executed and before they
      // were persisted (they never happened), and the claimants simply claim again next time.
      const losing = random() < 0.2;
      try {
        // After a loss the claimant's first unit persists even a read: run one, so the claims' unit is next.
        await claimant.run(async () => undefined);
        loseClaims = losing;
        const { epoch, results } = await claimAll(env.client, claimant, acctNow);
        t.false(losing && results.length > 0, `${where}: claims survived a lost write`);
        for (const r of results) {
          t.not(r.outcome, 'failed', `${where}: claim of ${r.payee} failed`);
          if (r.paidAfter > r.paidBefore) claims[payeeKeys.indexOf(r.key)]! += 1n;
        }
        if (epoch > 0n) claimed = await loadLeaves(env.client, env.ns, env.account, epoch);
        count('claim round');
      } catch (err) {
        if (!(err instanceof SimulatedCrash)) throw err;
        count(err.message);
      } finally {
        loseClaims = false;
      }
    }

    // ---- invariants on the chain's real state and the apiserver's
    const metered = await meteredInKube();
    t.is(metered.total, modelTotal(), `${where}: metered in Kubernetes != units reported`);
    const acct = await getAccount(env);
    if (!acct.status?.contractAddress) continue;
    const facts = await readChain(observer, Address.parse(acct.status.contractAddress), payouts, feeAddress);
    lastSeqno = facts.seqno;
    t.true(facts.committed <= metered.total, `${where}: committed ${facts.committed} > metered ${metered.total}`);
    t.true(facts.paidTotal <= facts.committed, `${where}: paid ${facts.paidTotal} > committed ${facts.committed}`);
    t.is(facts.paid.reduce((a, b) => a + b, 0n), facts.paidTotal, `${where}: paid counters do not sum to paidTotal`);
    if (facts.epoch > 0n) {
      // A root never reaches the chain without its leaves.
      const stored = await loadLeaves(env.client, env.ns, env.account, facts.epoch);
      t.truthy(stored, `${where}: no leaves stored for committed epoch ${facts.epoch}`);
      if (stored) {
        t.is(buildEntitlements(stored.leaves).root, facts.root, `${where}: stored leaves of epoch ${facts.epoch} do not hash to the root on chain`);
        t.is(stored.total, facts.committed, `${where}: stored leaves of epoch ${facts.epoch} do not sum to the committed total`);
        payeeKeys.forEach((k, i) => {
          const leaf = stored.leaves.get(k) ?? 0n;
          t.true(facts.paid[i]! <= leaf, `${where}: payee ${i} paid ${facts.paid[i]} > its committed leaf ${leaf}`);
          t.true(leaf <= metered.perPayee.get(k)!, `${where}: payee ${i} committed leaf ${leaf} > its metered ${metered.perPayee.get(k)}`);
        });
      }
    }
    checkBalances(where, facts);
  }

  // ---- crashes stop: settle, everyone claims, and the books balance exactly
  const where = `seed ${seed} final`;
  armed = undefined;
  reconciler = newReconciler();
  clock.advance(400); // past any pending validity and the commit period
  await settle(env, reconciler, clock, modelTotal(), 40);
  const { results } = await claimAll(env.client, claimant, await getAccount(env));
  for (const r of results) {
    t.is(r.outcome, 'paid', `${where}: claim of ${r.payee}`);
    if (r.paidAfter > r.paidBefore) claims[payeeKeys.indexOf(r.key)]! += 1n;
  }
  await reconciler.reconcile(accountKey(env));
  await reconciler.close();

  const acct = await getAccount(env);
  const address = Address.parse(acct.status!.contractAddress!);
  const metered = await meteredInKube();
  const facts = await readChain(observer, address, payouts, feeAddress);
  const units = payeeKeys.map((k) => expected.get(k)!);
  const total = modelTotal();
  t.is(metered.total, total, `${where}: metered in Kubernetes == units reported`);
  t.deepEqual(payeeKeys.map((k) => metered.perPayee.get(k)), units, `${where}: per payee metered in Kubernetes == units reported`);
  t.is(facts.committed, metered.total, `${where}: committed on chain == metered in Kubernetes`);
  t.is(facts.paidTotal, metered.total, `${where}: paid on chain == metered in Kubernetes`);
  t.deepEqual(facts.paid, units, `${where}: per payee paid on chain == metered`);
  t.is(facts.shortfall, 0n, `${where}: the contract is underfunded`);
  t.is(acct.status?.pending, undefined, `${where}: a commit is still pending`);
  t.deepEqual(acct.status?.totals, { metered: total.toString(), committed: total.toString(), paid: total.toString() }, where);
  t.is(acct.status?.conditions?.find((c) => c.type === 'Synced')?.status, 'True', where);
  // Real balances. Payees start from nothing; each received units × price − commission, plus what was
  // left of the gas its claims carried (less than CLAIM_VALUE each, and all of it less than one unit's
  // net), so a unit lost or paid twice shows. The fee address got the commission less forwarding fees.
  units.forEach((u, i) => {
    t.true(claims[i]! * CLAIM_VALUE < net(1n), `${where}: ${claims[i]} claims forward more gas than one unit's net; the balance check could miss a unit`);
    const bal = facts.balances[i]!;
    t.true(bal >= net(u), `${where}: payee ${i} holds ${bal} < ${net(u)} earned for ${u} units`);
    t.true(bal - net(u) <= claims[i]! * CLAIM_VALUE, `${where}: payee ${i} holds ${bal}, more than ${net(u)} earned for ${u} units plus the gas of ${claims[i]} claims`);
  });
  checkBalances(where, facts);
  t.true(facts.feeBalance > 0n, `${where}: no commission reached the fee address`);

  for (const p of POINTS) t.true(fired.has(`killed at ${p}`), `${where}: crash point ${p} never fired`);
  t.log(`seed ${seed}: ${total} units, epoch ${facts.epoch}, claims ${claims.join('/')}; ${[...fired].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
}

for (let run = 0; run < RUNS; run++) {
  const seed = FIRST_SEED + run;
  test(`killing the settlement controller, the usage fold and the chain endpoint at random points loses and duplicates no unit (seed ${seed})`, async (t) => {
    t.timeout(180_000);
    // Shown with a failure (and with --verbose).
    t.log(`reproduce: CHRYSALIS_CRASH_SEED=${seed} CHRYSALIS_CRASH_RUNS=1 npx tsx test/run.ts test/settlementaccount/crash-points.test.ts`);
    await runHistory(t, seed);
  });
}
