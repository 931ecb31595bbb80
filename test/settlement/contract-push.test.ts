import test from 'ava';
import { toNano } from '@ton/core';
import { ExitCodes, MAX_PUSH } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements, entitlementProof } from '../../operator/src/settlement/entitlements.js';
import type { SendMessageResult } from '@ton/sandbox';
import type { ExecutionContext } from 'ava';
import type { Fixture } from './_fixture.js';
import {
  assertFailed, CLAIM_VALUE, commit, computePhase, entitlementsOf, GAS_CAP, logGas, payees, setUp, txOf,
} from './_fixture.js';

/**
 * A malformed push fails only the push: the root was made final first (COMMIT), so the transaction keeps
 * the new root and seqno, reports the push's exit code, and pays nobody.
 */
async function assertPushFailed(t: ExecutionContext, f: Fixture, result: Promise<SendMessageResult>, root: bigint, exitCode: number) {
  const tx = txOf(await result, f.settlement.address);
  t.is(computePhase(tx).exitCode, exitCode);
  t.is(tx.outMessagesCount, 0);
  t.is((await f.settlement.getCommitted()).root, root);
  t.is(await f.settlement.getSeqno(), f.seqno);
  t.is((await f.settlement.getCommitted()).paidTotal, 0n);
}

test('a commit with a push list pays the listed payees in the same transaction', async (t) => {
  const f = await setUp();
  const ps = await payees(f, 5);
  const e = entitlementsOf(ps.map((p, i) => [p.key, BigInt((i + 1) * 100)]));
  const pushed = [ps[3]!.key, ps[4]!.key];
  const r = await commit(f, e, { push: { proof: entitlementProof(e, pushed), payees: pushed } });
  const tx = txOf(r, f.settlement.address);
  t.true(computePhase(tx).success);
  t.is((await f.settlement.getCommitted()).root, e.root);
  t.is(await f.settlement.getPaidUnits(ps[3]!.key), 400n);
  t.is(await f.settlement.getPaidUnits(ps[4]!.key), 500n);
  t.is(await f.settlement.getPaidUnits(ps[0]!.key), 0n);
  // two payouts and two commissions
  t.is(tx.outMessagesCount, 4);

  // A pushed payee claiming the same cumulative gets nothing more.
  const again = await f.settlement.sendClaim(f.claimant.getSender(), { value: CLAIM_VALUE, payee: ps[4]!.key, proof: entitlementProof(e, [ps[4]!.key]) });
  assertFailed(t, again, f.settlement.address, ExitCodes.nothingToClaim);
});

test('a pushed payee with nothing new is skipped, not paid twice', async (t) => {
  const f = await setUp();
  const ps = await payees(f, 2);
  const e1 = entitlementsOf([[ps[0]!.key, 100n], [ps[1]!.key, 200n]]);
  await commit(f, e1, { push: { proof: entitlementProof(e1, [ps[0]!.key]), payees: [ps[0]!.key] } });
  const e2 = entitlementsOf([[ps[0]!.key, 100n], [ps[1]!.key, 300n]]);
  const keys = [ps[0]!.key, ps[1]!.key];
  const r = await commit(f, e2, { push: { proof: entitlementProof(e2, keys), payees: keys } });
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is(await f.settlement.getPaidUnits(ps[0]!.key), 100n);
  t.is(await f.settlement.getPaidUnits(ps[1]!.key), 300n);
  t.is((await f.settlement.getCommitted()).paidTotal, 400n);
});

test('an underfunded commit records the root but pushes nothing', async (t) => {
  const f = await setUp({ fund: toNano('0.5') });
  const ps = await payees(f, 2);
  const e = entitlementsOf([[ps[0]!.key, 10_000n], [ps[1]!.key, 1n]]); // 10 TON owed
  const keys = ps.map((p) => p.key);
  const r = await commit(f, e, { push: { proof: entitlementProof(e, keys), payees: keys } });
  t.true(computePhase(txOf(r, f.settlement.address)).success);
  t.is((await f.settlement.getCommitted()).root, e.root);
  t.is((await f.settlement.getCommitted()).paidTotal, 0n);
});

test(`a push list longer than ${MAX_PUSH} payees fails the push with pushTooLong but keeps the root`, async (t) => {
  const f = await setUp();
  const leaves = new Map<bigint, bigint>();
  for (let i = 1; i <= MAX_PUSH + 1; i++) leaves.set(BigInt(i) << 200n, 1n);
  const e = buildEntitlements(leaves);
  const keys = [...leaves.keys()];
  await assertPushFailed(t, f, commit(f, e, { push: { proof: entitlementProof(e, keys), payees: keys } }), e.root, ExitCodes.pushTooLong);
});

test('a push proof that is not for the new root fails the push with proofRootMismatch but keeps the root', async (t) => {
  const f = await setUp();
  const ps = await payees(f, 2);
  const e = entitlementsOf([[ps[0]!.key, 100n], [ps[1]!.key, 200n]]);
  const other = entitlementsOf([[ps[0]!.key, 900n], [ps[1]!.key, 200n]]);
  await assertPushFailed(t, f, commit(f, e, { push: { proof: entitlementProof(other, [ps[0]!.key]), payees: [ps[0]!.key] } }),
    e.root, ExitCodes.proofRootMismatch);
});

test('a pushed payee missing from the push proof fails the push with payeeNotInProof but keeps the root', async (t) => {
  const f = await setUp();
  const ps = await payees(f, 3);
  const e = entitlementsOf([[ps[0]!.key, 100n], [ps[1]!.key, 200n]]);
  // The proof covers every leaf, so the lookup of the third (absent) payee ends in "not found".
  const proof = entitlementProof(e, [ps[0]!.key, ps[1]!.key]);
  await assertPushFailed(t, f, commit(f, e, { push: { proof, payees: [ps[0]!.key, ps[2]!.key] } }), e.root, ExitCodes.payeeNotInProof);
});

test(`pushing ${MAX_PUSH} payees in a 10,000-payee fleet stays well within the gas cap`, async (t) => {
  const f = await setUp({ fund: toNano('1000') });
  const leaves = new Map<bigint, bigint>();
  for (let i = 0; i < 10_000; i++) leaves.set(BigInt(i + 1) * 0x9e3779b97f4a7c15n, 1n);
  const e = buildEntitlements(leaves);
  const keys = [...leaves.keys()].slice(0, MAX_PUSH);
  const withPush = computePhase(txOf(await commit(f, e, { push: { proof: entitlementProof(e, keys), payees: keys } }), f.settlement.address));
  t.true(withPush.success);
  const plain = computePhase(txOf(await commit(f, e), f.settlement.address));
  logGas(t, [
    ['commit, no push', plain.gasUsed],
    [`commit + push of ${MAX_PUSH}`, withPush.gasUsed],
    ['per pushed payee', (withPush.gasUsed - plain.gasUsed) / BigInt(MAX_PUSH)],
  ]);
  t.true(withPush.gasUsed < GAS_CAP / 2n);
});
