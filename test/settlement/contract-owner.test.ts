import test from 'ava';
import { beginCell, toNano } from '@ton/core';
import { ExitCodes } from '../../operator/src/settlement/contract/Settlement.js';
import { entitlementProof } from '../../operator/src/settlement/entitlements.js';
import {
  assertFailed, CLAIM_VALUE, COMMISSION_BPS, commit, computePhase, entitlementsOf, logGas, payees, PRICE, RESERVE,
  setUp, txOf,
} from './_fixture.js';

const params = (f: Awaited<ReturnType<typeof setUp>>) => ({
  feeAddress: f.fee.address, pricePerUnit: PRICE, commissionBps: COMMISSION_BPS, minReserve: RESERVE,
});

test('anyone may deposit, with the deposit opcode or a plain transfer', async (t) => {
  const f = await setUp({ fund: toNano('1') });
  const stranger = await f.chain.treasury('stranger');
  const before = await f.settlement.getBalance();
  const r1 = await f.settlement.sendDeposit(stranger.getSender(), toNano('2'));
  const r2 = await stranger.send({ to: f.settlement.address, value: toNano('3') });
  t.true(computePhase(txOf(r1, f.settlement.address)).success);
  t.true(computePhase(txOf(r2, f.settlement.address)).success);
  t.true((await f.settlement.getBalance()) - before > toNano('4.99'));
  logGas(t, [['deposit', computePhase(txOf(r1, f.settlement.address)).gasUsed],
    ['plain transfer', computePhase(txOf(r2, f.settlement.address)).gasUsed]]);
});

test('the owner can withdraw the surplus above owed plus reserve, and no more', async (t) => {
  const f = await setUp({ fund: toNano('10') });
  const ps = await payees(f, 2);
  await commit(f, entitlementsOf([[ps[0]!.key, 2_000n], [ps[1]!.key, 3_000n]])); // 5 TON owed
  const balance = await f.settlement.getBalance();
  const surplus = balance - 5_000n * PRICE - RESERVE;

  const tooMuch = await f.settlement.sendWithdraw(f.owner.getSender(), { value: toNano('0.05'), amount: surplus + 1n });
  assertFailed(t, tooMuch, f.settlement.address, ExitCodes.withdrawExceedsSurplus);

  const ownerBefore = await f.owner.getBalance();
  const ok = await f.settlement.sendWithdraw(f.owner.getSender(), { value: toNano('0.05'), amount: surplus - toNano('0.01') });
  t.true(computePhase(txOf(ok, f.settlement.address)).success);
  t.true((await f.owner.getBalance()) - ownerBefore > surplus - toNano('0.05'));
  logGas(t, [['withdraw', computePhase(txOf(ok, f.settlement.address)).gasUsed]]);

  // What is owed is still claimable in full after the withdrawal.
  const e = entitlementsOf([[ps[0]!.key, 2_000n], [ps[1]!.key, 3_000n]]);
  for (const p of ps) {
    const r = await f.settlement.sendClaim(f.claimant.getSender(), { value: CLAIM_VALUE, payee: p.key, proof: entitlementProof(e, [p.key]) });
    t.true(computePhase(txOf(r, f.settlement.address)).success);
  }
  t.is((await f.settlement.getCommitted()).paidTotal, 5_000n);
});

test('withdraw from anyone but the owner fails with notOwner', async (t) => {
  const f = await setUp();
  const r = await f.settlement.sendWithdraw(f.claimant.getSender(), { value: toNano('0.05'), amount: 1n });
  assertFailed(t, r, f.settlement.address, ExitCodes.notOwner);
});

test('setParams from anyone but the owner fails with notOwner', async (t) => {
  const f = await setUp();
  const r = await f.settlement.sendSetParams(f.claimant.getSender(), { value: toNano('0.05'), ...params(f), pricePerUnit: PRICE * 2n });
  assertFailed(t, r, f.settlement.address, ExitCodes.notOwner);
  t.is((await f.settlement.getParams()).pricePerUnit, PRICE);
});

test('the owner can change parameters while nothing is owed', async (t) => {
  const f = await setUp();
  const newFee = await f.chain.treasury('new-fee');
  const r = await f.settlement.sendSetParams(f.owner.getSender(), {
    value: toNano('0.05'), feeAddress: newFee.address, pricePerUnit: PRICE / 2n, commissionBps: 1_000, minReserve: toNano('0.2'),
  });
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  const p = await f.settlement.getParams();
  t.true(p.feeAddress.equals(newFee.address));
  t.true(p.owner.equals(f.owner.address));
  t.is(p.pricePerUnit, PRICE / 2n);
  t.is(p.commissionBps, 1_000);
  t.is(p.minReserve, toNano('0.2'));
  t.deepEqual(p.operatorPublicKey, f.operator.publicKey);
  logGas(t, [['setParams', computePhase(txOf(r, f.settlement.address)).gasUsed]]);
});

test('a commission above 100% fails with badParams', async (t) => {
  const f = await setUp();
  const r = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), commissionBps: 10_001 });
  assertFailed(t, r, f.settlement.address, ExitCodes.badParams);
});

test('while units are owed, lowering the price or raising the commission fails with priceLocked; raising the price works', async (t) => {
  const f = await setUp();
  const [p] = await payees(f, 1);
  await commit(f, entitlementsOf([[p!.key, 100n]]));
  assertFailed(t, await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), pricePerUnit: PRICE - 1n }),
    f.settlement.address, ExitCodes.priceLocked);
  assertFailed(t, await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), commissionBps: COMMISSION_BPS + 1 }),
    f.settlement.address, ExitCodes.priceLocked);
  const up = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), pricePerUnit: PRICE * 2n, commissionBps: 0 });
  t.true(computePhase(txOf(up, f.settlement.address)).success);
  t.is((await f.settlement.getParams()).pricePerUnit, PRICE * 2n);
});

test('an unknown opcode fails with unknownOp', async (t) => {
  const f = await setUp();
  const r = await f.claimant.send({ to: f.settlement.address, value: toNano('0.05'), body: beginCell().storeUint(0xdeadbeef, 32).storeUint(0, 64).endCell() });
  assertFailed(t, r, f.settlement.address, ExitCodes.unknownOp);
});

// The reserve is what claims leave on the balance; an owner who could raise it past what is not owed could
// freeze every claim (ERR_UNDERFUNDED) without touching price or commission.
test('the owner cannot freeze what is owed by raising minReserve above the uncommitted balance', async (t) => {
  const f = await setUp({ fund: toNano('10') });
  const ps = await payees(f, 2);
  const e = entitlementsOf([[ps[0]!.key, 2_000n], [ps[1]!.key, 3_000n]]); // 5 TON owed
  await commit(f, e);
  const balance = await f.settlement.getBalance();
  const uncommitted = balance - 5_000n * PRICE;

  const freeze = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), minReserve: balance });
  assertFailed(t, freeze, f.settlement.address, ExitCodes.reserveExceedsSurplus);
  const justOver = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), minReserve: uncommitted + 1n });
  assertFailed(t, justOver, f.settlement.address, ExitCodes.reserveExceedsSurplus);
  t.is((await f.settlement.getParams()).minReserve, RESERVE);

  // A raise the uncommitted balance covers is allowed, and every payee can still claim in full.
  const within = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), minReserve: uncommitted - toNano('0.5') });
  t.true(computePhase(txOf(within, f.settlement.address)).success);
  for (const p of ps) {
    const r = await f.settlement.sendClaim(f.claimant.getSender(), { value: CLAIM_VALUE, payee: p.key, proof: entitlementProof(e, [p.key]) });
    t.true(computePhase(txOf(r, f.settlement.address)).success);
  }
  t.is((await f.settlement.getCommitted()).paidTotal, 5_000n);
});

test('lowering minReserve is always allowed, even while underfunded', async (t) => {
  const f = await setUp({ fund: toNano('1') });
  const [p] = await payees(f, 1);
  await commit(f, entitlementsOf([[p!.key, 5_000n]])); // 5 TON owed on about 1 TON
  const r = await f.settlement.sendSetParams(f.owner.getSender(), { value: toNano('0.05'), ...params(f), minReserve: toNano('0.05') });
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is((await f.settlement.getParams()).minReserve, toNano('0.05'));
});
