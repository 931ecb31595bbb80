import test from 'ava';
import { beginCell, toNano } from '@ton/core';
import { ExitCodes, storeClaim } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements, entitlementProof, loadEpochLeaves, saveEpochLeaves } from '../../operator/src/settlement/entitlements.js';
import {
  assertFailed, CLAIM_VALUE, COMMISSION_BPS, commit, computePhase, entitlementsOf, GAS_CAP, logGas, payees, PRICE,
  setUp, txOf, type Fixture,
} from './_fixture.js';

/** A settlement with `count` real payee wallets, committed with units 100, 200, ... */
async function committedFleet(count: number, fund?: bigint) {
  const f = await setUp(fund === undefined ? {} : { fund });
  const ps = await payees(f, count);
  const e = entitlementsOf(ps.map((p, i) => [p.key, BigInt((i + 1) * 100)]));
  await commit(f, e);
  return { f, ps, e };
}

async function claim(f: Fixture, payee: bigint, proof: import('@ton/core').Cell) {
  return f.settlement.sendClaim(f.claimant.getSender(), { value: CLAIM_VALUE, payee, proof });
}

test('a claim pays (cumulative - paid) x price minus commission to the payee and commission to the fee address', async (t) => {
  const { f, ps, e } = await committedFleet(3);
  const p = ps[1]!;
  const result = await claim(f, p.key, entitlementProof(e, [p.key]));
  const tx = txOf(result, f.settlement.address);
  t.true(computePhase(tx).success);
  t.is(await f.settlement.getPaidUnits(p.key), 200n);
  t.is((await f.settlement.getCommitted()).paidTotal, 200n);

  const gross = 200n * PRICE;
  const commission = (gross * BigInt(COMMISSION_BPS)) / 10_000n;
  const out = [...tx.outMessages.values()].map((m) => m.info);
  const toPayee = out.find((i) => i.type === 'internal' && i.dest.equals(p.wallet.address));
  const toFee = out.find((i) => i.type === 'internal' && i.dest.equals(f.fee.address));
  if (toPayee?.type !== 'internal' || toFee?.type !== 'internal') throw new Error('expected two payouts');
  // The payee also receives what is left of the claimant's attached value (mode 64).
  t.true(toPayee.value.coins > gross - commission);
  t.true(toPayee.value.coins < gross - commission + CLAIM_VALUE);
  // The commission message carries its own forwarding fee (it is taken from the commission).
  t.true(toFee.value.coins < commission && commission - toFee.value.coins < toNano('0.001'));
  t.false(toPayee.bounce);
});

test('anyone may claim for a payee and the money goes to the payee, not the claimant', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  const p = ps[0]!;
  const before = await p.wallet.getBalance();
  const result = await claim(f, p.key, entitlementProof(e, [p.key]));
  t.true(computePhase(txOf(result, f.settlement.address)).success);
  t.true((await p.wallet.getBalance()) - before > 95n * PRICE);
});

test('a second claim with the same cumulative pays nothing and fails with nothingToClaim', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  const p = ps[0]!;
  const proof = entitlementProof(e, [p.key]);
  await claim(f, p.key, proof);
  const again = await claim(f, p.key, proof);
  assertFailed(t, again, f.settlement.address, ExitCodes.nothingToClaim);
  t.is(await f.settlement.getPaidUnits(p.key), 100n);
  // The failed claim bounced the attached value back to the claimant.
  t.true(again.transactions.some((tx) => tx.inMessage?.info.type === 'internal' && tx.inMessage.info.bounced));
});

test('after a new commit a claim pays only the increase', async (t) => {
  const { f, ps } = await committedFleet(2);
  const p = ps[0]!;
  const e1 = entitlementsOf([[p.key, 100n], [ps[1]!.key, 200n]]);
  await claim(f, p.key, entitlementProof(e1, [p.key]));
  const e2 = entitlementsOf([[p.key, 130n], [ps[1]!.key, 200n]]);
  await commit(f, e2);
  const r = await claim(f, p.key, entitlementProof(e2, [p.key]));
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is(await f.settlement.getPaidUnits(p.key), 130n);
  t.is((await f.settlement.getCommitted()).paidTotal, 130n);
});

test('a proof against the previous root is still accepted (a commit raced the claim)', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  await commit(f, entitlementsOf([[ps[0]!.key, 150n], [ps[1]!.key, 250n]]));
  const r = await claim(f, ps[0]!.key, entitlementProof(e, [ps[0]!.key]));
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is(await f.settlement.getPaidUnits(ps[0]!.key), 100n);
});

test('a stale proof, two roots old, fails with proofRootMismatch', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  await commit(f, entitlementsOf([[ps[0]!.key, 150n], [ps[1]!.key, 250n]]));
  await commit(f, entitlementsOf([[ps[0]!.key, 160n], [ps[1]!.key, 260n]]));
  const r = await claim(f, ps[0]!.key, entitlementProof(e, [ps[0]!.key]));
  assertFailed(t, r, f.settlement.address, ExitCodes.proofRootMismatch);
  t.is(await f.settlement.getPaidUnits(ps[0]!.key), 0n);
});

test('a forged proof (a valid Merkle proof of a dictionary never committed) fails with proofRootMismatch', async (t) => {
  const { f, ps } = await committedFleet(2);
  const inflated = entitlementsOf([[ps[0]!.key, 1_000_000n], [ps[1]!.key, 200n]]);
  const r = await claim(f, ps[0]!.key, entitlementProof(inflated, [ps[0]!.key]));
  assertFailed(t, r, f.settlement.address, ExitCodes.proofRootMismatch);
  t.is(await f.settlement.getPaidUnits(ps[0]!.key), 0n);
});

test('an ordinary cell instead of a Merkle proof fails with notAMerkleProof', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  const plainDict = beginCell().storeDictDirect(e.dict).endCell();
  assertFailed(t, await claim(f, ps[0]!.key, plainDict), f.settlement.address, ExitCodes.notAMerkleProof);
});

test('a claim before any commit fails with proofRootMismatch', async (t) => {
  const f = await setUp();
  const [p] = await payees(f, 1);
  const e = entitlementsOf([[p!.key, 10n]]);
  assertFailed(t, await claim(f, p!.key, entitlementProof(e, [p!.key])), f.settlement.address, ExitCodes.proofRootMismatch);
});

test('a payee absent from a proof of the committed root fails with payeeNotInProof', async (t) => {
  const { f, ps, e } = await committedFleet(2);
  const [stranger] = await payees(f, 1);
  // The proof covers every leaf (nothing pruned), so the lookup for the stranger ends in "not found".
  const proof = entitlementProof(e, ps.map((p) => p.key));
  assertFailed(t, await claim(f, stranger!.key, proof), f.settlement.address, ExitCodes.payeeNotInProof);
});

test('a proof for one payee cannot be used to claim for another', async (t) => {
  const { f, ps, e } = await committedFleet(16);
  const proof = entitlementProof(e, [ps[0]!.key]);
  const r = await claim(f, ps[9]!.key, proof);
  const cp = computePhase(txOf(r, f.settlement.address));
  t.false(cp.success);
  // Either the path ends outside the proven tree (TVM cannot load a pruned branch: 9) or in "not found".
  t.true(cp.exitCode === 9 || cp.exitCode === ExitCodes.payeeNotInProof, `exit code ${cp.exitCode}`);
  t.is(await f.settlement.getPaidUnits(ps[9]!.key), 0n);
});

test('a claim the balance cannot cover fails with underfunded and leaves paid unchanged', async (t) => {
  // 0.35 TON on the balance, 0.1 reserve: 100 units (0.1 TON) are payable, 300 units (0.3 TON) are not.
  const { f, ps, e } = await committedFleet(3, toNano('0.35'));
  t.true((await f.settlement.getCommitted()).shortfall > 0n);
  const big = ps[2]!;
  const r = await claim(f, big.key, entitlementProof(e, [big.key]));
  assertFailed(t, r, f.settlement.address, ExitCodes.underfunded);
  t.is(await f.settlement.getPaidUnits(big.key), 0n);
  t.is((await f.settlement.getCommitted()).paidTotal, 0n);

  const small = ps[0]!;
  t.true(computePhase(txOf(await claim(f, small.key, entitlementProof(e, [small.key])), f.settlement.address)).success);

  // Once someone deposits, the big claim goes through in full.
  await f.settlement.sendDeposit(f.owner.getSender(), toNano('1'));
  t.true(computePhase(txOf(await claim(f, big.key, entitlementProof(e, [big.key])), f.settlement.address)).success);
  t.is(await f.settlement.getPaidUnits(big.key), 300n);
});

test('leaves that exceed the committed total cannot be paid beyond it (exceedsCommitted)', async (t) => {
  const f = await setUp();
  const [p] = await payees(f, 1);
  const e = buildEntitlements(new Map([[p!.key, 500n]]));
  // An inconsistent commit: the root says 500 units but the signed total is only 100.
  await f.settlement.sendCommit({
    secretKey: f.operator.secretKey, seqno: 0, validUntil: f.now + 60, epoch: 1n, root: e.root, totalUnits: 100n,
  });
  assertFailed(t, await claim(f, p!.key, entitlementProof(e, [p!.key])), f.settlement.address, ExitCodes.exceedsCommitted);
  t.is(await f.settlement.getPaidUnits(p!.key), 0n);
});

test('claim gas grows only logarithmically with the fleet and stays far below the cap', async (t) => {
  const rows: Array<[string, bigint]> = [];
  for (const size of [10, 1_000, 10_000]) {
    const f = await setUp({ fund: toNano('1000') });
    const leaves = new Map<bigint, bigint>();
    for (let i = 0; i < size; i++) leaves.set(BigInt(i + 1) * 0x9e3779b97f4a7c15n, 1n);
    const e = buildEntitlements(leaves);
    await commit(f, e);
    const keys = [...leaves.keys()];
    // Twenty claims in a row, so the paid dictionary is not empty; the last one is recorded.
    let last = 0n;
    for (const k of keys.slice(0, Math.min(20, size))) {
      last = computePhase(txOf(await claim(f, k, entitlementProof(e, [k])), f.settlement.address)).gasUsed;
    }
    rows.push([`claim, ${size.toLocaleString('en')} payees`, last]);
    t.true(last < GAS_CAP / 20n);
  }
  logGas(t, rows);
  t.true(rows[2]![1] < rows[0]![1] * 3n);
});

test('a payee can claim from published leaves long after the operator stopped committing', async (t) => {
  const f = await setUp();
  const ps = await payees(f, 3);
  const leaves = new Map(ps.map((p, i) => [p.key, BigInt(10 * (i + 1))] as [bigint, bigint]));
  await commit(f, buildEntitlements(leaves));
  const published = saveEpochLeaves(1n, leaves);
  // A year later, with no commit since and no operator around, the payee rebuilds its proof and claims.
  f.chain.now = f.now + 365 * 24 * 3600;
  const { entitlements } = loadEpochLeaves(published);
  const p = ps[2]!;
  const r = await p.wallet.send({
    to: f.settlement.address, value: CLAIM_VALUE,
    body: beginCell().store(storeClaim({ payee: p.key, proof: entitlementProof(entitlements, [p.key]) })).endCell(),
  });
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is(await f.settlement.getPaidUnits(p.key), 30n);
});
