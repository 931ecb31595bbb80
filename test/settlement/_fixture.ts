// Shared set-up for the settlement contract tests: a fresh sandbox chain, an operator key pair, an owner,
// a fee wallet and a claimant, and a deployed, funded settlement contract. Not a test file (ava runs
// *.test.ts only).
import { Blockchain, EmulationError, type SandboxContract, type SendMessageResult, type TreasuryContract } from '@ton/sandbox';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';
import { toNano, type Address, type Transaction } from '@ton/core';
import type { ExecutionContext } from 'ava';
import { compileSettlement } from '../../operator/src/settlement/contract/compile.js';
import { Settlement, type SettlementParams } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements, payeeKey, type Entitlements } from '../../operator/src/settlement/entitlements.js';

export interface Fixture {
  chain: Blockchain;
  operator: KeyPair;
  owner: SandboxContract<TreasuryContract>;
  fee: SandboxContract<TreasuryContract>;
  claimant: SandboxContract<TreasuryContract>;
  settlement: SandboxContract<Settlement>;
  now: number;
  /** next commit's seqno and epoch, advanced by `commit` */
  seqno: number;
  epoch: bigint;
}

export const PRICE = 1_000_000n;        // 0.001 TON per unit
export const COMMISSION_BPS = 500;      // 5%
export const RESERVE = toNano('0.1');
export const CLAIM_VALUE = toNano('0.05');

export async function setUp(opts: { fund?: bigint; params?: Partial<SettlementParams> } = {}): Promise<Fixture> {
  const chain = await Blockchain.create();
  const now = 1_750_000_000;
  chain.now = now;
  // A fixed seed keeps gas figures reproducible; it is a test key, never a real one.
  const operator = keyPairFromSeed(Buffer.alloc(32, 7));
  const owner = await chain.treasury('owner');
  const fee = await chain.treasury('fee');
  const claimant = await chain.treasury('claimant');
  const code = await compileSettlement();
  const params: SettlementParams = {
    owner: owner.address,
    feeAddress: fee.address,
    pricePerUnit: PRICE,
    commissionBps: COMMISSION_BPS,
    minReserve: RESERVE,
    ...opts.params,
  };
  const settlement = chain.openContract(Settlement.createFromConfig({ operatorPublicKey: operator.publicKey, params }, code));
  await settlement.sendDeploy(owner.getSender(), opts.fund ?? toNano('100'));
  return { chain, operator, owner, fee, claimant, settlement, now, seqno: 0, epoch: 1n };
}

/** Commits `entitlements` as the next epoch with the operator key and advances the fixture's counters. */
export async function commit(f: Fixture, e: Entitlements, extra: { push?: Parameters<Settlement['sendCommit']>[1]['push'] } = {}) {
  const result = await f.settlement.sendCommit({
    secretKey: f.operator.secretKey, seqno: f.seqno, validUntil: f.now + 60,
    epoch: f.epoch, root: e.root, totalUnits: e.total, push: extra.push ?? null,
  });
  f.seqno += 1;
  f.epoch += 1n;
  return result;
}

/** `count` fresh payee wallets and their keys. */
export async function payees(f: Fixture, count: number) {
  const wallets = await f.chain.createWallets(count);
  return wallets.map((w) => ({ wallet: w, key: payeeKey(w.address) }));
}

export function entitlementsOf(entries: Array<[bigint, bigint]>): Entitlements {
  return buildEntitlements(new Map(entries));
}

/** The transaction the given account executed in a message chain. */
export function txOf(result: SendMessageResult, address: Address): Transaction {
  const tx = result.transactions.find((t) => {
    const dest = t.inMessage?.info.dest;
    return dest !== undefined && dest !== null && 'workChain' in dest && (dest as Address).equals(address);
  });
  if (!tx) throw new Error(`no transaction on ${address.toString()}`);
  return tx;
}

export function computePhase(tx: Transaction): { success: boolean; exitCode: number; gasUsed: bigint } {
  if (tx.description.type !== 'generic') throw new Error('not a generic transaction');
  const cp = tx.description.computePhase;
  if (cp.type !== 'vm') return { success: false, exitCode: -1, gasUsed: 0n };
  return { success: cp.success, exitCode: cp.exitCode, gasUsed: cp.gasUsed };
}

/** Asserts that the settlement contract's transaction in `result` failed with `exitCode`. */
export function assertFailed(t: ExecutionContext, result: SendMessageResult, address: Address, exitCode: number) {
  const cp = computePhase(txOf(result, address));
  t.false(cp.success, `expected exit code ${exitCode}, the transaction succeeded`);
  t.is(cp.exitCode, exitCode);
}

/** Asserts that an external message was refused (not accepted) with `exitCode`. */
export async function assertRefused(t: ExecutionContext, sending: Promise<unknown>, exitCode: number) {
  const err = await t.throwsAsync(sending);
  t.true(err instanceof EmulationError, `expected an EmulationError, got ${String(err)}`);
  t.is((err as EmulationError).exitCode, exitCode);
}

/** Total fees burned by a transaction plus the forwarding fees of the internal messages it sent. */
export function feesOf(tx: Transaction): bigint {
  let fees = tx.totalFees.coins;
  for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
  return fees;
}

/** Prints a gas table in the test log. */
export function logGas(t: ExecutionContext, rows: Array<[string, bigint]>) {
  const width = Math.max(...rows.map(([p]) => p.length));
  t.log(`\n${'path'.padEnd(width)}  gas\n${rows.map(([p, g]) => `${p.padEnd(width)}  ${g}`).join('\n')}`);
}

export const GAS_CAP = 1_000_000n;
