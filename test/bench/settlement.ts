// `npm run bench -- settlement [--quick]`: on-chain fees per settlement period, Merkle-root settlement
// (ours) against the per-payee push baseline, measured in the same @ton/sandbox run (default basechain
// config).
//
// Ours, per period: one signed commit (O(1) gas) plus the claims that fall in the period when every payee
// claims once a day (fleet × 5 min / 1 day claims per period, each measured as a real claim with a Merkle
// proof, sent from a treasury wallet). Baseline, per period: every payee's delta pushed as a transfer with
// a per-payee cumulative dictionary update (test/bench/contracts/push-baseline.tolk), in signed batches
// as large as the 1,000,000 gas cap allows.
//
// Fees = total fees of the transactions on our side (settlement contract, claimant wallet) plus the
// forwarding fees of the internal messages they send. The payees' own receive transactions are left out
// on both sides (they would only add to the baseline: it makes 288× more payments).
import { Blockchain, type SandboxContract, type TreasuryContract } from '@ton/sandbox';
import { beginCell, contractAddress, external, toNano, type Cell, type Transaction } from '@ton/core';
import { keyPairFromSeed, sign, type KeyPair } from '@ton/crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions, BenchResult } from './run.js';
import { compileSettlement, compileTolk } from '../../operator/src/settlement/contract/compile.js';
import { commitMessageBody, Settlement } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements, entitlementProof, type Entitlements } from '../../operator/src/settlement/entitlements.js';

const PERIOD_MINUTES = 5;
const PERIODS_PER_DAY = (24 * 60) / PERIOD_MINUTES;
const CLAIMS_PER_PAYEE_PER_DAY = 1;
const GAS_CAP = 1_000_000n;
const MAX_ACTIONS = 255;
const PRICE = 1_000n;            // nanotons per unit; 1..1000 units per payee per period
const CLAIM_VALUE = toNano('0.05');
const NANO = 1e9;

interface FleetResult {
  fleet: number;
  commitFee: number;           // TON per commit
  commitGas: bigint;
  claimFee: number;            // TON per claim
  claimGas: bigint;
  claimsMeasured: number;
  oursPerPeriod: number;
  baselinePerPeriod: number;
  baselineBatches: number;
  batchSize: number;
  baselineGasPerPayee: number;
  baselineMaxBatchGas: bigint;
  baselineExtrapolated: boolean;
  periods: number;
}

/** Deterministic pseudo-random numbers, so every run meters the same usage. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function payeeKeys(count: number): bigint[] {
  return Array.from({ length: count }, (_, i) => (BigInt(i + 1) * 0x9e3779b97f4a7c15f39cc0605cedc835n) & ((1n << 256n) - 1n));
}

/** Fees burned by a transaction and by the internal messages it sends. */
function feesOf(tx: Transaction): bigint {
  let fees = tx.totalFees.coins;
  for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
  return fees;
}

function gasOf(tx: Transaction): { success: boolean; gas: bigint } {
  if (tx.description.type !== 'generic' || tx.description.computePhase.type !== 'vm') return { success: false, gas: 0n };
  return { success: tx.description.computePhase.success, gas: tx.description.computePhase.gasUsed };
}

async function newChain(): Promise<{ chain: Blockchain; funder: SandboxContract<TreasuryContract>; operator: KeyPair }> {
  const chain = await Blockchain.create();
  chain.now = 1_750_000_000;
  const funder = await chain.treasury('funder', { balance: toNano('100000000') });
  // A fixed, benchmark-only key.
  return { chain, funder, operator: keyPairFromSeed(Buffer.alloc(32, 3)) };
}

/** Usage grows by 1..1000 units per payee per period. */
function nextCumulative(cumulative: Map<bigint, bigint>, keys: bigint[], rand: () => number): void {
  for (const k of keys) cumulative.set(k, (cumulative.get(k) ?? 0n) + 1n + BigInt(Math.floor(rand() * 1000)));
}

async function measureOurs(fleet: number, periods: number, claimSamples: number) {
  const { chain, funder, operator } = await newChain();
  const claimant = await chain.treasury('claimant');
  const settlement = chain.openContract(Settlement.createFromConfig({
    operatorPublicKey: operator.publicKey,
    params: { owner: funder.address, feeAddress: funder.address, pricePerUnit: PRICE, commissionBps: 0, minReserve: toNano('0.1') },
  }, await compileSettlement()));
  await settlement.sendDeploy(funder.getSender(), toNano('100000'));

  const keys = payeeKeys(fleet);
  const cumulative = new Map<bigint, bigint>();
  const rand = prng(fleet);
  // Claims measured: `claimSamples` distinct payees, spread evenly over the periods.
  const claimAt = new Map<number, bigint[]>();
  for (let j = 0; j < claimSamples; j++) {
    const period = Math.floor(((j + 0.5) * periods) / claimSamples);
    claimAt.set(period, [...(claimAt.get(period) ?? []), keys[Math.floor((j * fleet) / claimSamples)]!]);
  }
  let commitFees = 0n;
  let commitGas = 0n;
  let claimFees = 0n;
  let claimGas = 0n;
  for (let period = 0; period < periods; period++) {
    chain.now! += PERIOD_MINUTES * 60;
    nextCumulative(cumulative, keys, rand);
    const e: Entitlements = buildEntitlements(cumulative);
    const result = await settlement.sendCommit({
      secretKey: operator.secretKey, seqno: period, validUntil: chain.now! + 60, epoch: BigInt(period + 1), root: e.root, totalUnits: e.total,
    });
    const tx = result.transactions.find((t) => t.inMessage?.info.type === 'external-in')!;
    const g = gasOf(tx);
    if (!g.success) throw new Error(`commit failed at period ${period}`);
    commitFees += feesOf(tx);
    commitGas = g.gas;
    for (const payee of claimAt.get(period) ?? []) {
      const r = await settlement.sendClaim(claimant.getSender(), { value: CLAIM_VALUE, payee, proof: entitlementProof(e, [payee]) });
      const ours = r.transactions.filter((t) => {
        const dest = t.inMessage?.info.dest;
        return dest !== undefined && dest !== null && 'workChain' in dest && (dest.equals(settlement.address) || dest.equals(claimant.address));
      });
      const settlementTx = ours.find((t) => (t.inMessage!.info.dest as typeof settlement.address).equals(settlement.address))!;
      const cg = gasOf(settlementTx);
      if (!cg.success) throw new Error(`claim failed at period ${period}`);
      claimGas += cg.gas;
      claimFees += ours.reduce((sum, t) => sum + feesOf(t), 0n);
    }
  }
  return {
    commitFee: Number(commitFees) / periods / NANO,
    commitGas,
    claimFee: Number(claimFees) / claimSamples / NANO,
    claimGas: claimGas / BigInt(claimSamples),
  };
}

// ---------------------------------------------------------------- the push baseline

function storeEntries(entries: Array<[bigint, bigint]>): Cell {
  let next: Cell | null = null;
  for (let end = entries.length; end > 0; end -= 3) {
    const b = beginCell();
    for (const [k, v] of entries.slice(Math.max(0, end - 3), end)) b.storeUint(k, 256).storeUint(v, 64);
    if (next) b.storeRef(next);
    next = b.endCell();
  }
  return next ?? beginCell().endCell();
}

function batchBody(seqno: number, validUntil: number, entries: Array<[bigint, bigint]>, secretKey: Buffer): Cell {
  const payload = beginCell().storeUint(0x70757368, 32).storeUint(seqno, 32).storeUint(validUntil, 32)
    .storeRef(storeEntries(entries)).endCell();
  return beginCell().storeBuffer(sign(payload.hash(), secretKey), 64).storeRef(payload).endCell();
}

async function measureBaseline(fleet: number, periods: number, maxBatchesPerPeriod: number) {
  const { chain, funder, operator } = await newChain();
  const code = await compileTolk('push-baseline.tolk', join(dirname(fileURLToPath(import.meta.url)), 'contracts'));
  const data = beginCell().storeBuffer(operator.publicKey, 32).storeUint(0, 32).storeCoins(PRICE).storeMaybeRef(null).endCell();
  const address = contractAddress(0, { code, data });
  await funder.send({ to: address, value: toNano('1000000'), init: { code, data } });

  const keys = payeeKeys(fleet);
  const cumulative = new Map<bigint, bigint>();
  const rand = prng(fleet);
  let seqno = 0;
  // Start conservatively; after the first (insert-only) period, size batches from the measured gas.
  let batchSize = 100;
  let gasPerPayee = 0;
  let maxBatchGas = 0n;
  let steadyFees = 0;
  let steadyPeriods = 0;
  let extrapolated = false;
  for (let period = 0; period < periods; period++) {
    chain.now! += PERIOD_MINUTES * 60;
    nextCumulative(cumulative, keys, rand);
    const entries = keys.map((k) => [k, cumulative.get(k)!] as [bigint, bigint]);
    // The first period runs every batch (it fills the dictionary); later ones may be sampled.
    const limit = period === 0 ? Number.POSITIVE_INFINITY : maxBatchesPerPeriod;
    let fees = 0n;
    let gas = 0n;
    let paid = 0;
    let batches = 0;
    let i = 0;
    while (i < entries.length && batches < limit) {
      const batch = entries.slice(i, i + batchSize);
      const msg = external({ to: address, body: batchBody(seqno, chain.now! + 60, batch, operator.secretKey) });
      // Only the baseline's own transaction: the payees' receive transactions are not counted.
      const iter = await chain.sendMessageIter(msg, { allowParallel: true });
      const tx = (await iter.next()).value as Transaction;
      const g = gasOf(tx);
      if (!g.success) {
        // Out of gas: nothing was stored (the seqno did not move); retry with a smaller batch.
        if (batchSize === 1) throw new Error('baseline cannot pay even one payee per transaction');
        batchSize = Math.floor(batchSize * 0.9);
        continue;
      }
      seqno += 1;
      batches += 1;
      i += batch.length;
      fees += feesOf(tx);
      gas += g.gas;
      paid += batch.length;
      if (g.gas > maxBatchGas) maxBatchGas = g.gas;
    }
    if (i < entries.length) extrapolated = true;
    gasPerPayee = Number(gas) / paid;
    if (period === 0) {
      // From now on, the largest batch that the measured gas per payee fits under the cap and the
      // action limit; shrunk above whenever a batch still runs out of gas.
      batchSize = Math.max(1, Math.min(MAX_ACTIONS - 1, Math.floor(Number(GAS_CAP) / gasPerPayee)));
    } else {
      // A sampled period is scaled up by fees per payee (batches are uniform).
      steadyFees += (Number(fees) / paid) * fleet;
      steadyPeriods += 1;
    }
  }
  return {
    perPeriod: steadyFees / steadyPeriods / NANO,
    batches: Math.ceil(fleet / batchSize),
    batchSize,
    gasPerPayee,
    maxBatchGas,
    extrapolated,
  };
}

// ---------------------------------------------------------------- report

function fmt(x: number, digits = 6): string {
  return x.toFixed(digits);
}

export default async function settlementBench(opts: BenchOptions): Promise<BenchResult> {
  const fleets = opts.quick ? [10, 100, 1_000] : [10, 100, 1_000, 10_000];
  const oursPeriods = opts.quick ? 12 : 48;
  const baselinePeriods = opts.quick ? 2 : 3;
  const results: FleetResult[] = [];
  for (const fleet of fleets) {
    const claimSamples = Math.min(fleet, opts.quick ? 12 : 40);
    const ours = await measureOurs(fleet, oursPeriods, claimSamples);
    // 10,000 payees: the first period runs all batches; later periods sample 10 batches and scale.
    const base = await measureBaseline(fleet, baselinePeriods, fleet > 1_000 ? 10 : Number.POSITIVE_INFINITY);
    const claimsPerPeriod = (fleet * CLAIMS_PER_PAYEE_PER_DAY) / PERIODS_PER_DAY;
    results.push({
      fleet,
      commitFee: ours.commitFee,
      commitGas: ours.commitGas,
      claimFee: ours.claimFee,
      claimGas: ours.claimGas,
      claimsMeasured: claimSamples,
      oursPerPeriod: ours.commitFee + claimsPerPeriod * ours.claimFee,
      baselinePerPeriod: base.perPeriod,
      baselineBatches: base.batches,
      batchSize: base.batchSize,
      baselineGasPerPayee: base.gasPerPayee,
      baselineMaxBatchGas: base.maxBatchGas,
      baselineExtrapolated: base.extrapolated,
      periods: oursPeriods,
    });
  }

  const header = ['payees', 'commit TON', 'claim TON', 'claims/period', 'ours TON/period', 'baseline TON/period', 'ratio',
    'commit gas', 'claim gas', 'baseline gas/payee', 'batch', 'batches', 'max batch gas'];
  const rows = results.map((r) => [
    r.fleet.toLocaleString('en'), fmt(r.commitFee), fmt(r.claimFee), fmt((r.fleet * CLAIMS_PER_PAYEE_PER_DAY) / PERIODS_PER_DAY, 3),
    fmt(r.oursPerPeriod), `${fmt(r.baselinePerPeriod)}${r.baselineExtrapolated ? '*' : ''}`, fmt(r.oursPerPeriod / r.baselinePerPeriod, 4),
    r.commitGas.toString(), r.claimGas.toString(), r.baselineGasPerPayee.toFixed(0), String(r.batchSize), String(r.baselineBatches),
    r.baselineMaxBatchGas.toString(),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const out: string[] = [
    `settlement fees per ${PERIOD_MINUTES}-minute period, ${CLAIMS_PER_PAYEE_PER_DAY} claim per payee per day ` +
      `(ours: ${oursPeriods} periods of commits, claims sampled; baseline: ${baselinePeriods} periods, first one fills the dictionary and is not averaged)`,
    line(header),
    ...rows.map(line),
  ];
  if (results.some((r) => r.baselineExtrapolated)) {
    out.push('* baseline at this size: the first period ran every batch; later periods ran 10 batches and were scaled by fees per payee');
  }
  const commitFees = results.map((r) => r.commitFee);
  const operatorFlat = Math.max(...commitFees) / Math.min(...commitFees);
  const perPayeeDay = results.map((r) => `${r.fleet}: ${fmt((r.oursPerPeriod * PERIODS_PER_DAY) / r.fleet)} vs ${fmt((r.baselinePerPeriod * PERIODS_PER_DAY) / r.fleet)}`);
  out.push(`operator's per-period cost (commit) max/min across fleet sizes: ${operatorFlat.toFixed(3)}× (aim ≤ 2×)`);
  out.push(`per payee per day, ours vs baseline (TON): ${perPayeeDay.join('; ')}`);
  out.push('claims scale with the fleet by construction (each payee claims once a day); the commit does not');
  process.stdout.write(`${out.join('\n')}\n`);

  const at1000 = results.find((r) => r.fleet === 1_000)!;
  return {
    bench: 'settlement',
    metric: 'on-chain fees per period at 1,000 payees (commit + daily claims vs push every period)',
    unit: 'TON',
    ours: Number(at1000.oursPerPeriod.toFixed(9)),
    baseline: Number(at1000.baselinePerPeriod.toFixed(9)),
    ratio: Number((at1000.oursPerPeriod / at1000.baselinePerPeriod).toFixed(5)),
    params: {
      periodMinutes: PERIOD_MINUTES,
      claimsPerPayeePerDay: CLAIMS_PER_PAYEE_PER_DAY,
      quick: opts.quick,
      pricePerUnitNanotons: PRICE.toString(),
      commissionBps: 0,
      operatorCostSpread: Number(operatorFlat.toFixed(3)),
      fleets: Object.fromEntries(results.map((r) => [r.fleet, {
        oursPerPeriod: Number(r.oursPerPeriod.toFixed(9)),
        baselinePerPeriod: Number(r.baselinePerPeriod.toFixed(9)),
        commitGas: Number(r.commitGas),
        claimGas: Number(r.claimGas),
        baselineGasPerPayee: Math.round(r.baselineGasPerPayee),
        batchSize: r.batchSize,
        baselineExtrapolated: r.baselineExtrapolated,
      }])),
    },
  };
}
