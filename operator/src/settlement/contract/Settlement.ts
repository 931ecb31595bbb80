// Blueprint-style wrapper of settlement.tolk: the message and storage layouts as store/load codec pairs,
// and send/get methods that take a ContractProvider, so the same code drives @ton/sandbox and a live
// network. Layouts here must match the structs in settlement.tolk field for field.
import {
  Address, beginCell, Cell, contractAddress, SendMode,
  type Builder, type Contract, type ContractProvider, type Sender, type Slice,
} from '@ton/core';
import { sign } from '@ton/crypto';

export const Opcodes = {
  /** Tag of the signed commit payload (external message). */
  commit: 0x636f6d6d,
  deposit: 0x6465706f,
  claim: 0x636c6169,
  withdraw: 0x77647261,
  setParams: 0x73657470,
} as const;

/** Exit codes thrown by the contract (TVM's own codes, such as 9 for a malformed message, are below 100). */
export const ExitCodes = {
  badSignature: 100,
  badSeqno: 101,
  expired: 102,
  wrongTarget: 103,
  staleEpoch: 104,
  decreasingTotal: 105,
  pushTooLong: 106,
  notAMerkleProof: 110,
  proofRootMismatch: 111,
  payeeNotInProof: 112,
  nothingToClaim: 113,
  underfunded: 114,
  exceedsCommitted: 115,
  notOwner: 120,
  withdrawExceedsSurplus: 121,
  badParams: 122,
  priceLocked: 123,
  reserveExceedsSurplus: 124,
  unknownOp: 0xffff,
} as const;

/** Most payees one commit may push (the contract's MAX_PUSH). */
export const MAX_PUSH = 32;
/** External-out log topic emitted by a commit that leaves the contract underfunded. */
export const TOPIC_UNDERFUNDED = 0x756e6466n;

// ---------------------------------------------------------------- storage codecs

export interface SettlementParams {
  owner: Address;
  feeAddress: Address;
  /** nanotons per unit */
  pricePerUnit: bigint;
  /** basis points, 0..10000 */
  commissionBps: number;
  /** nanotons always kept on the balance */
  minReserve: bigint;
}

export interface CommittedState {
  root: bigint;
  prevRoot: bigint;
  epoch: bigint;
  totalUnits: bigint;
}

export interface SettlementConfig {
  operatorPublicKey: Buffer;
  params: SettlementParams;
  seqno?: number;
}

/** Full decoded storage. */
export interface SettlementState {
  operatorPublicKey: Buffer;
  seqno: number;
  paidTotal: bigint;
  committed: CommittedState;
  params: SettlementParams;
  /** payee key -> units paid; the raw dictionary cell (null when empty) */
  paid: Cell | null;
}

export function storeParams(p: SettlementParams) {
  return (b: Builder) => {
    b.storeAddress(p.owner).storeAddress(p.feeAddress).storeCoins(p.pricePerUnit)
      .storeUint(p.commissionBps, 16).storeCoins(p.minReserve);
  };
}

export function loadParams(s: Slice): SettlementParams {
  return {
    owner: s.loadAddress(),
    feeAddress: s.loadAddress(),
    pricePerUnit: s.loadCoins(),
    commissionBps: s.loadUint(16),
    minReserve: s.loadCoins(),
  };
}

export function storeCommitted(c: CommittedState) {
  return (b: Builder) => {
    b.storeUint(c.root, 256).storeUint(c.prevRoot, 256).storeUint(c.epoch, 64).storeUint(c.totalUnits, 64);
  };
}

export function loadCommitted(s: Slice): CommittedState {
  return { root: s.loadUintBig(256), prevRoot: s.loadUintBig(256), epoch: s.loadUintBig(64), totalUnits: s.loadUintBig(64) };
}

function checkPublicKey(key: Buffer): void {
  if (key.length !== 32) throw new RangeError('operator public key must be 32 bytes (Ed25519)');
}

/** Initial storage: nothing committed, nothing paid. */
export function settlementConfigToCell(config: SettlementConfig): Cell {
  checkPublicKey(config.operatorPublicKey);
  if (config.params.commissionBps < 0 || config.params.commissionBps > 10_000) {
    throw new RangeError('commissionBps must be within 0..10000');
  }
  return beginCell()
    .storeBuffer(config.operatorPublicKey, 32)
    .storeUint(config.seqno ?? 0, 32)
    .storeUint(0, 64) // paidTotal
    .storeRef(beginCell().store(storeCommitted({ root: 0n, prevRoot: 0n, epoch: 0n, totalUnits: 0n })))
    .storeRef(beginCell().store(storeParams(config.params)))
    .storeMaybeRef(null) // paid: empty map
    .endCell();
}

/** Decodes the contract's storage cell (inverse of `settlementConfigToCell`, for any later state too). */
export function loadSettlementConfig(data: Cell): SettlementState {
  const s = data.beginParse();
  const state: SettlementState = {
    operatorPublicKey: s.loadBuffer(32),
    seqno: s.loadUint(32),
    paidTotal: s.loadUintBig(64),
    committed: loadCommitted(s.loadRef().beginParse()),
    params: loadParams(s.loadRef().beginParse()),
    paid: s.loadMaybeRef(),
  };
  s.endParse();
  return state;
}

// ---------------------------------------------------------------- message codecs

export interface PushList {
  /** Merkle proof of the NEW root covering every payee in `payees` (entitlementProof(...)). */
  proof: Cell;
  /** payee keys, at most MAX_PUSH */
  payees: bigint[];
}

export interface CommitPayload {
  seqno: number;
  /** unix time after which the commit is refused */
  validUntil: number;
  /** the settlement contract the commit is for */
  target: Address;
  epoch: bigint;
  root: bigint;
  totalUnits: bigint;
  push?: PushList | null;
}

/** Payee keys as a snake: up to 3 keys per cell, the rest in the first ref. */
function storePayeeSnake(keys: readonly bigint[]): Cell {
  let next: Cell | null = null;
  for (let end = keys.length; end > 0; end -= 3) {
    const b = beginCell();
    for (const k of keys.slice(Math.max(0, end - 3), end)) b.storeUint(k, 256);
    if (next) b.storeRef(next);
    next = b.endCell();
  }
  return next ?? beginCell().endCell();
}

function loadPayeeSnake(cell: Cell): bigint[] {
  const keys: bigint[] = [];
  let s: Slice | null = cell.beginParse();
  while (s) {
    while (s.remainingBits >= 256) keys.push(s.loadUintBig(256));
    s = s.remainingRefs > 0 ? s.loadRef().beginParse() : null;
  }
  return keys;
}

export function storeCommitPayload(p: CommitPayload) {
  return (b: Builder) => {
    b.storeUint(Opcodes.commit, 32).storeUint(p.seqno, 32).storeUint(p.validUntil, 32).storeAddress(p.target)
      .storeUint(p.epoch, 64).storeUint(p.root, 256).storeUint(p.totalUnits, 64)
      .storeMaybeRef(p.push ? beginCell().storeRef(p.push.proof).storeRef(storePayeeSnake(p.push.payees)).endCell() : null);
  };
}

export function loadCommitPayload(s: Slice): CommitPayload {
  if (s.loadUint(32) !== Opcodes.commit) throw new Error('not a commit payload');
  const payload: CommitPayload = {
    seqno: s.loadUint(32),
    validUntil: s.loadUint(32),
    target: s.loadAddress(),
    epoch: s.loadUintBig(64),
    root: s.loadUintBig(256),
    totalUnits: s.loadUintBig(64),
    push: null,
  };
  const push = s.loadMaybeRef();
  if (push) {
    const ps = push.beginParse();
    payload.push = { proof: ps.loadRef(), payees: loadPayeeSnake(ps.loadRef()) };
  }
  return payload;
}

/**
 * The external commit message body: Ed25519 signature (512 bits) over the hash of the payload cell, then
 * the payload as a ref. The secret key is used only to sign; it never leaves this function.
 */
export function commitMessageBody(payload: CommitPayload, secretKey: Buffer): Cell {
  const payloadCell = beginCell().store(storeCommitPayload(payload)).endCell();
  const signature = sign(payloadCell.hash(), secretKey);
  return beginCell().storeBuffer(signature, 64).storeRef(payloadCell).endCell();
}

export interface ClaimMessage {
  queryId?: bigint;
  /** payee key: account id in workchain 0 */
  payee: bigint;
  /** Merkle proof of the payee's leaf against the current (or previous) root */
  proof: Cell;
}

export function storeClaim(m: ClaimMessage) {
  return (b: Builder) => {
    b.storeUint(Opcodes.claim, 32).storeUint(m.queryId ?? 0n, 64).storeUint(m.payee, 256).storeRef(m.proof);
  };
}

export function loadClaim(s: Slice): ClaimMessage {
  if (s.loadUint(32) !== Opcodes.claim) throw new Error('not a claim');
  return { queryId: s.loadUintBig(64), payee: s.loadUintBig(256), proof: s.loadRef() };
}

export type ParamsUpdate = Omit<SettlementParams, 'owner'>;

export function storeSetParams(p: ParamsUpdate, queryId = 0n) {
  return (b: Builder) => {
    b.storeUint(Opcodes.setParams, 32).storeUint(queryId, 64).storeAddress(p.feeAddress).storeCoins(p.pricePerUnit)
      .storeUint(p.commissionBps, 16).storeCoins(p.minReserve);
  };
}

export function loadSetParams(s: Slice): ParamsUpdate & { queryId: bigint } {
  if (s.loadUint(32) !== Opcodes.setParams) throw new Error('not a setParams');
  return {
    queryId: s.loadUintBig(64),
    feeAddress: s.loadAddress(),
    pricePerUnit: s.loadCoins(),
    commissionBps: s.loadUint(16),
    minReserve: s.loadCoins(),
  };
}

// ---------------------------------------------------------------- the contract

export interface CommittedView extends CommittedState {
  paidTotal: bigint;
  /** nanotons missing to cover everything owed plus the reserve; > 0 means underfunded */
  shortfall: bigint;
}

export class Settlement implements Contract {
  constructor(readonly address: Address, readonly init?: { code: Cell; data: Cell }) {}

  static createFromAddress(address: Address): Settlement {
    return new Settlement(address);
  }

  static createFromConfig(config: SettlementConfig, code: Cell, workchain = 0): Settlement {
    const data = settlementConfigToCell(config);
    const init = { code, data };
    return new Settlement(contractAddress(workchain, init), init);
  }

  /** Deploys (with the state init) and funds the contract in one message. */
  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, {
      value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: beginCell().storeUint(Opcodes.deposit, 32).storeUint(0, 64).endCell(),
    });
  }

  async sendCommit(
    provider: ContractProvider,
    opts: Omit<CommitPayload, 'target'> & { secretKey: Buffer },
  ): Promise<void> {
    const { secretKey, ...payload } = opts;
    await provider.external(commitMessageBody({ ...payload, target: this.address }, secretKey));
  }

  async sendClaim(provider: ContractProvider, via: Sender, opts: ClaimMessage & { value: bigint }): Promise<void> {
    await provider.internal(via, {
      value: opts.value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: beginCell().store(storeClaim(opts)).endCell(),
    });
  }

  async sendDeposit(provider: ContractProvider, via: Sender, value: bigint, queryId = 0n): Promise<void> {
    await provider.internal(via, {
      value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: beginCell().storeUint(Opcodes.deposit, 32).storeUint(queryId, 64).endCell(),
    });
  }

  async sendWithdraw(
    provider: ContractProvider, via: Sender, opts: { value: bigint; amount: bigint; queryId?: bigint },
  ): Promise<void> {
    await provider.internal(via, {
      value: opts.value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: beginCell().storeUint(Opcodes.withdraw, 32).storeUint(opts.queryId ?? 0n, 64).storeCoins(opts.amount).endCell(),
    });
  }

  async sendSetParams(
    provider: ContractProvider, via: Sender, opts: ParamsUpdate & { value: bigint; queryId?: bigint },
  ): Promise<void> {
    await provider.internal(via, {
      value: opts.value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: beginCell().store(storeSetParams(opts, opts.queryId ?? 0n)).endCell(),
    });
  }

  async getSeqno(provider: ContractProvider): Promise<number> {
    const { stack } = await provider.get('seqno', []);
    return stack.readNumber();
  }

  async getCommitted(provider: ContractProvider): Promise<CommittedView> {
    const { stack } = await provider.get('committed', []);
    return {
      root: stack.readBigNumber(),
      epoch: stack.readBigNumber(),
      totalUnits: stack.readBigNumber(),
      paidTotal: stack.readBigNumber(),
      shortfall: stack.readBigNumber(),
      prevRoot: stack.readBigNumber(),
    };
  }

  async getPaidUnits(provider: ContractProvider, payee: bigint): Promise<bigint> {
    const { stack } = await provider.get('paidUnits', [{ type: 'int', value: payee }]);
    return stack.readBigNumber();
  }

  async getParams(provider: ContractProvider): Promise<SettlementParams & { operatorPublicKey: Buffer }> {
    const { stack } = await provider.get('params', []);
    return {
      owner: stack.readAddress(),
      feeAddress: stack.readAddress(),
      pricePerUnit: stack.readBigNumber(),
      commissionBps: stack.readNumber(),
      minReserve: stack.readBigNumber(),
      operatorPublicKey: Buffer.from(stack.readBigNumber().toString(16).padStart(64, '0'), 'hex'),
    };
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
