import test from 'ava';
import { Address, beginCell, toNano } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { commitMessageBody, ExitCodes, TOPIC_UNDERFUNDED } from '../../operator/src/settlement/contract/Settlement.js';
import {
  assertRefused, commit, computePhase, entitlementsOf, GAS_CAP, logGas, PRICE, RESERVE, setUp, txOf,
} from './_fixture.js';

const key = (n: number) => BigInt(n) * 0x9e3779b97f4a7c15n + 0x1234n;
function fleet(size: number, units = (i: number) => BigInt(i + 1)) {
  return entitlementsOf(Array.from({ length: size }, (_, i) => [key(i), units(i)] as [bigint, bigint]));
}

test('a signed commit stores root, epoch and total and advances the seqno', async (t) => {
  const f = await setUp();
  const e = fleet(5);
  const result = await commit(f, e);
  t.true(computePhase(txOf(result, f.settlement.address)).success);
  const c = await f.settlement.getCommitted();
  t.is(c.root, e.root);
  t.is(c.epoch, 1n);
  t.is(c.totalUnits, 15n);
  t.is(c.paidTotal, 0n);
  t.is(c.shortfall, 0n);
  t.is(c.prevRoot, 0n);
  t.is(await f.settlement.getSeqno(), 1);

  const next = fleet(5, (i) => BigInt(i + 2));
  await commit(f, next);
  const c2 = await f.settlement.getCommitted();
  t.is(c2.root, next.root);
  t.is(c2.prevRoot, e.root);
  t.is(c2.epoch, 2n);
});

test('commit gas is the same for 10 and 10,000 payees and far below the cap', async (t) => {
  const small = await setUp();
  const large = await setUp();
  // One unit each, so both stay funded and take the same path.
  const gasSmall = computePhase(txOf(await commit(small, fleet(10, () => 1n)), small.settlement.address)).gasUsed;
  const gasLarge = computePhase(txOf(await commit(large, fleet(10_000, () => 1n)), large.settlement.address)).gasUsed;
  t.is((await large.settlement.getCommitted()).shortfall, 0n);
  logGas(t, [['commit, 10 payees', gasSmall], ['commit, 10,000 payees', gasLarge]]);
  t.is(gasSmall, gasLarge);
  t.true(gasLarge < GAS_CAP / 100n);
});

test('a replayed commit is refused with badSeqno', async (t) => {
  const f = await setUp();
  const e = fleet(3);
  const body = commitMessageBody({
    seqno: 0, validUntil: f.now + 60, target: f.settlement.address, epoch: 1n, root: e.root, totalUnits: e.total,
  }, f.operator.secretKey);
  await f.chain.sendMessage({ info: { type: 'external-in', dest: f.settlement.address, importFee: 0n }, body });
  await assertRefused(t, f.chain.sendMessage({ info: { type: 'external-in', dest: f.settlement.address, importFee: 0n }, body }),
    ExitCodes.badSeqno);
  t.is(await f.settlement.getSeqno(), 1);
});

test('a commit with a seqno from the future is refused with badSeqno', async (t) => {
  const f = await setUp();
  f.seqno = 5;
  await assertRefused(t, commit(f, fleet(3)), ExitCodes.badSeqno);
});

test('an expired commit is refused with expired', async (t) => {
  const f = await setUp();
  const e = fleet(3);
  await assertRefused(t, f.settlement.sendCommit({
    secretKey: f.operator.secretKey, seqno: 0, validUntil: f.now - 1, epoch: 1n, root: e.root, totalUnits: e.total,
  }), ExitCodes.expired);
});

test('a commit signed by another key is refused with badSignature', async (t) => {
  const f = await setUp();
  const e = fleet(3);
  const intruder = keyPairFromSeed(Buffer.alloc(32, 9));
  await assertRefused(t, f.settlement.sendCommit({
    secretKey: intruder.secretKey, seqno: 0, validUntil: f.now + 60, epoch: 1n, root: e.root, totalUnits: e.total,
  }), ExitCodes.badSignature);
});

test('a commit whose payload was altered after signing is refused with badSignature', async (t) => {
  const f = await setUp();
  const e = fleet(3);
  const body = commitMessageBody({
    seqno: 0, validUntil: f.now + 60, target: f.settlement.address, epoch: 1n, root: e.root, totalUnits: e.total,
  }, f.operator.secretKey);
  const s = body.beginParse();
  const signature = s.loadBuffer(64);
  const payload = s.loadRef().beginParse();
  // Same payload with a larger total, keeping the original signature.
  const forged = beginCell()
    .storeUint(payload.loadUint(32), 32).storeUint(payload.loadUint(32), 32).storeUint(payload.loadUint(32), 32)
    .storeAddress(payload.loadAddress()).storeUint(payload.loadUintBig(64), 64).storeUint(payload.loadUintBig(256), 256);
  payload.loadUintBig(64);
  forged.storeUint(e.total * 1000n, 64).storeSlice(payload);
  const tampered = beginCell().storeBuffer(signature).storeRef(forged.endCell()).endCell();
  await assertRefused(t, f.chain.sendMessage({ info: { type: 'external-in', dest: f.settlement.address, importFee: 0n }, body: tampered }),
    ExitCodes.badSignature);
});

test('a commit signed for another settlement contract is refused with wrongTarget', async (t) => {
  const f = await setUp();
  const e = fleet(3);
  const body = commitMessageBody({
    seqno: 0, validUntil: f.now + 60, target: new Address(0, Buffer.alloc(32, 1)), epoch: 1n, root: e.root, totalUnits: e.total,
  }, f.operator.secretKey);
  await assertRefused(t, f.chain.sendMessage({ info: { type: 'external-in', dest: f.settlement.address, importFee: 0n }, body }),
    ExitCodes.wrongTarget);
});

test('a commit that does not advance the epoch is refused with staleEpoch', async (t) => {
  const f = await setUp();
  await commit(f, fleet(3));
  f.epoch = 1n;
  await assertRefused(t, commit(f, fleet(3, (i) => BigInt(i + 5))), ExitCodes.staleEpoch);
});

test('a commit whose total decreases is refused with decreasingTotal', async (t) => {
  const f = await setUp();
  await commit(f, fleet(3, () => 10n));
  await assertRefused(t, commit(f, fleet(3, () => 9n)), ExitCodes.decreasingTotal);
  const c = await f.settlement.getCommitted();
  t.is(c.totalUnits, 30n);
});

test('a malformed external message is refused by TVM before acceptance', async (t) => {
  const f = await setUp();
  await assertRefused(t, f.chain.sendMessage({
    info: { type: 'external-in', dest: f.settlement.address, importFee: 0n }, body: beginCell().storeUint(1, 8).endCell(),
  }), 9);
});

test('an underfunded commit is still recorded, logs the shortfall and exposes it through the getter', async (t) => {
  const f = await setUp({ fund: toNano('1') });
  const e = fleet(4, () => 5_000n); // 20,000 units = 20 TON owed
  const result = await commit(f, e);
  const tx = txOf(result, f.settlement.address);
  t.true(computePhase(tx).success);
  const c = await f.settlement.getCommitted();
  t.is(c.root, e.root);
  const balance = await f.settlement.getBalance();
  t.is(c.shortfall, 20_000n * PRICE + RESERVE - balance);

  const logs = [...tx.outMessages.values()].filter((m) => m.info.type === 'external-out');
  t.is(logs.length, 1);
  const log = logs[0]!;
  if (log.info.type !== 'external-out' || !log.info.dest) throw new Error('expected an external-out log');
  t.is(log.info.dest.value & ((1n << 248n) - 1n), TOPIC_UNDERFUNDED);
  const body = log.body.beginParse();
  t.is(body.loadUintBig(64), 1n);
  // The log is computed before this commit's own gas and log fees are charged, so it is a little lower.
  const logged = body.loadCoins();
  t.true(logged > 0n && logged <= c.shortfall && c.shortfall - logged < toNano('0.01'));

  // A deposit clears the shortfall as seen by the getter.
  await f.settlement.sendDeposit(f.owner.getSender(), toNano('25'));
  t.is((await f.settlement.getCommitted()).shortfall, 0n);
});

test('a funded commit emits no log', async (t) => {
  const f = await setUp();
  const tx = txOf(await commit(f, fleet(4)), f.settlement.address);
  t.is(tx.outMessagesCount, 0);
});
