// The chain as the settlement code sees it: something that opens a ContractProvider for an address,
// has a Sender that pays for deploys and claims, and tells the chain's time. Two implementations:
// sandbox-chain.ts (@ton/sandbox in process, state persisted to a directory after every unit of work)
// and ton-client-chain.ts (@ton/ton TonClient against a toncenter-compatible endpoint, with a wallet).
// The controller, the claims and the CLI talk to the Settlement wrapper through these providers either
// way, so the same code drives both.
import { Address, toNano, type ContractProvider, type Sender, type StateInit } from '@ton/core';
import { settlementCode } from '../contract/code.js';
import { Settlement, type CommittedView, type SettlementParams } from '../contract/Settlement.js';

export type Network = 'sandbox' | 'testnet' | 'mainnet';

export interface ChainSession {
  provider(address: Address, init?: StateInit | null): ContractProvider;
  /** Pays for deploys and claims: the sandbox treasury, or the operator's wallet on a live network. */
  sender(): Sender;
  /** The chain's current time, unix seconds (what `validUntil` is compared with). */
  now(): number;
}

export interface SettlementChain {
  readonly network: Network;
  /**
   * Runs `fn` as one unit of work against the chain. The sandbox holds its state-directory lock for the
   * whole unit and persists the state after it; a live chain just provides the session. Transport
   * failures surface as EndpointUnreachableError.
   */
  run<T>(fn: (session: ChainSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The chain endpoint did not answer (or answered with a transport-level error). Retry with backoff. */
export class EndpointUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointUnreachableError';
  }
}

/** What the controller reads from the contract in one go. */
export interface ContractView {
  address: Address;
  deployed: boolean;
  balance: bigint;
  seqno: number;
  committed: CommittedView;
  /** Hash of the contract's last transaction, hex; undefined before any. */
  lastTxHash?: string;
}

const EMPTY: CommittedView = { root: 0n, prevRoot: 0n, epoch: 0n, totalUnits: 0n, paidTotal: 0n, shortfall: 0n };

export async function readContract(s: ChainSession, address: Address): Promise<ContractView> {
  const provider = s.provider(address);
  const state = await provider.getState();
  if (state.state.type !== 'active') {
    return { address, deployed: false, balance: state.balance, seqno: 0, committed: EMPTY };
  }
  const contract = Settlement.createFromAddress(address);
  const [seqno, committed] = [await contract.getSeqno(provider), await contract.getCommitted(provider)];
  return {
    address, deployed: true, balance: state.balance, seqno, committed,
    ...(state.last ? { lastTxHash: state.last.hash.toString('hex') } : {}),
  };
}

export interface DeployOptions {
  operatorPublicKey: Buffer;
  pricePerUnit: bigint;
  commissionBps: number;
  /** Receives the commission; default the deployer (the sender). */
  feeAddress?: Address;
  /** Nanotons kept on the balance for storage and gas (default 0.1 TON). */
  minReserve?: bigint;
  /** Initial funding sent with the deploy. */
  value: bigint;
}

export const DEFAULT_MIN_RESERVE = toNano('0.1');

/**
 * The contract's address for these parameters (deterministic: code + initial data), and the state init
 * that deploys it. The deployer is the owner.
 */
export async function settlementFor(owner: Address, opts: Omit<DeployOptions, 'value'>): Promise<Settlement> {
  const params: SettlementParams = {
    owner, feeAddress: opts.feeAddress ?? owner, pricePerUnit: opts.pricePerUnit,
    commissionBps: opts.commissionBps, minReserve: opts.minReserve ?? DEFAULT_MIN_RESERVE,
  };
  return Settlement.createFromConfig({ operatorPublicKey: opts.operatorPublicKey, params }, settlementCode());
}

/**
 * Deploys the settlement contract unless it is already active at its deterministic address; returns the
 * address either way, so a deploy repeated after a crash is a no-op.
 */
export async function ensureDeployed(s: ChainSession, opts: DeployOptions): Promise<Address> {
  const sender = s.sender();
  if (!sender.address) throw new Error('the chain session has no sender address to deploy from');
  const contract = await settlementFor(sender.address, opts);
  const state = await s.provider(contract.address).getState();
  if (state.state.type !== 'active') {
    await contract.sendDeploy(s.provider(contract.address, contract.init), sender, opts.value);
  }
  return contract.address;
}

export function parseAddress(text: string, field: string): Address {
  try {
    return Address.parse(text);
  } catch {
    throw new RangeError(`${field}: ${JSON.stringify(text)} is not a TON address`);
  }
}
