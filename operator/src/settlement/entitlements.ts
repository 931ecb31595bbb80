// Entitlements: the dictionary payee -> cumulative units that the operator commits on chain each period.
//
// Only its root cell hash (the Merkle root), the epoch and the total go on chain; the leaves stay with the
// operator (and are published as JSON) so that anyone can rebuild a Merkle proof for any payee later —
// even if the operator has vanished.
//
// Payee key: the payee's 256-bit account id in the basechain (workchain 0), the same key the contract
// uses to pay address (0, key). Values are uint64 cumulative units. Everything here is pure.
import { Address, beginCell, Dictionary, type Cell } from '@ton/core';

export const UNITS_MAX = (1n << 64n) - 1n;
const KEY_MAX = (1n << 256n) - 1n;

export interface Entitlements {
  /** The TON dictionary whose root cell hash is `root`. */
  dict: Dictionary<bigint, bigint>;
  /** Hash of the dictionary's root cell as an unsigned 256-bit integer; 0n for an empty dictionary. */
  root: bigint;
  /** Sum of all leaves (must equal the committed total). */
  total: bigint;
  size: number;
}

/** The dictionary key of a payee: its account id. Only basechain addresses can be payees. */
export function payeeKey(address: Address): bigint {
  if (address.workChain !== 0) {
    throw new RangeError(`payee ${address.toString()} is not in the basechain (workchain 0)`);
  }
  return BigInt(`0x${address.hash.toString('hex')}`);
}

/** The address a payee key is paid to. */
export function payeeAddress(key: bigint): Address {
  return new Address(0, Buffer.from(key.toString(16).padStart(64, '0'), 'hex'));
}

function entitlementDictionary(): Dictionary<bigint, bigint> {
  return Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.BigUint(64));
}

/** Builds the entitlement dictionary from cumulative units per payee key. */
export function buildEntitlements(leaves: ReadonlyMap<bigint, bigint>): Entitlements {
  const dict = entitlementDictionary();
  let total = 0n;
  for (const [key, units] of leaves) {
    if (key < 0n || key > KEY_MAX) throw new RangeError(`payee key ${key.toString(16)} is not a 256-bit account id`);
    if (units < 0n || units > UNITS_MAX) throw new RangeError(`units ${units} of payee ${key.toString(16)} do not fit uint64`);
    dict.set(key, units);
    total += units;
  }
  if (total > UNITS_MAX) throw new RangeError(`total units ${total} do not fit uint64`);
  return { dict, root: dictionaryRoot(dict), total, size: dict.size };
}

/** The Merkle root: hash of the dictionary's root cell (the cell a Merkle proof's single ref points at). */
export function dictionaryRoot(dict: Dictionary<bigint, bigint>): bigint {
  if (dict.size === 0) return 0n;
  const rootCell = beginCell().storeDictDirect(dict).endCell();
  return BigInt(`0x${rootCell.hash().toString('hex')}`);
}

/**
 * A Merkle proof (exotic cell, type 3) of the given payees' leaves: the dictionary with every branch not
 * on their paths pruned. One payee for a claim; several for a commit's push list.
 */
export function entitlementProof(entitlements: Entitlements, payees: readonly bigint[]): Cell {
  if (payees.length === 0) throw new RangeError('a proof needs at least one payee');
  for (const key of payees) {
    if (!entitlements.dict.has(key)) throw new RangeError(`payee ${key.toString(16)} has no entitlement in this epoch`);
  }
  return entitlements.dict.generateMerkleProof([...payees]);
}

/** An epoch's leaves as published by the operator. */
export interface EpochLeaves {
  epoch: bigint;
  root: bigint;
  total: bigint;
  leaves: Map<bigint, bigint>;
  /** The account's price per unit when the epoch was committed (absent in leaves written before pricing). */
  pricePerUnitNanoton?: bigint;
  /** What each payee's cumulative units earn at that price, before the contract's commission. */
  earnedNanoton?: Map<bigint, bigint>;
}

interface EpochLeavesJson {
  version: 1;
  epoch: string;
  root: string;
  total: string;
  /** payee key (64 hex digits) -> cumulative units (decimal string); these are what the root commits */
  leaves: Record<string, string>;
  /** decimal; with earnedNanoton */
  pricePerUnitNanoton?: string;
  /** payee key -> units × pricePerUnitNanoton (decimal): what was earned; informative, not on chain */
  earnedNanoton?: Record<string, string>;
}

const keyHex = (k: bigint) => k.toString(16).padStart(64, '0');

/**
 * Serialises an epoch's leaves to JSON (bigints as strings) together with the root they hash to and,
 * given the account's price, what each payee earned (units × price, before commission). The root commits
 * only the units: the contract pays (units − paid) × its price, so earned is what the units are worth at
 * the price of the commit.
 */
export function saveEpochLeaves(epoch: bigint, leaves: ReadonlyMap<bigint, bigint>, pricePerUnitNanoton?: bigint): string {
  const built = buildEntitlements(leaves);
  const sorted = [...leaves].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const json: EpochLeavesJson = {
    version: 1,
    epoch: epoch.toString(),
    root: built.root.toString(16).padStart(64, '0'),
    total: built.total.toString(),
    leaves: Object.fromEntries(sorted.map(([k, v]) => [keyHex(k), v.toString()])),
    ...(pricePerUnitNanoton !== undefined
      ? { pricePerUnitNanoton: pricePerUnitNanoton.toString(), earnedNanoton: Object.fromEntries(sorted.map(([k, v]) => [keyHex(k), (v * pricePerUnitNanoton).toString()])) }
      : {}),
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/**
 * Parses JSON written by `saveEpochLeaves` and rebuilds the dictionary; throws when the leaves do not
 * hash to the recorded root or sum to the recorded total, so a damaged file never yields a bad proof.
 */
export function loadEpochLeaves(text: string): EpochLeaves & { entitlements: Entitlements } {
  const raw = JSON.parse(text) as Partial<EpochLeavesJson>;
  if (raw.version !== 1) throw new Error('epoch leaves: unsupported or missing "version" (expected 1)');
  if (typeof raw.epoch !== 'string' || typeof raw.root !== 'string' || typeof raw.total !== 'string'
    || typeof raw.leaves !== 'object' || raw.leaves === null) {
    throw new Error('epoch leaves: "epoch", "root", "total" and "leaves" are required');
  }
  const leaves = new Map<bigint, bigint>();
  for (const [k, v] of Object.entries(raw.leaves)) {
    if (!/^[0-9a-f]{64}$/.test(k)) throw new Error(`epoch leaves: key "${k}" is not 64 lowercase hex digits`);
    if (!/^[0-9]+$/.test(v)) throw new Error(`epoch leaves: units of ${k} are not a decimal integer`);
    leaves.set(BigInt(`0x${k}`), BigInt(v));
  }
  const entitlements = buildEntitlements(leaves);
  const root = BigInt(`0x${raw.root}`);
  if (entitlements.root !== root) throw new Error('epoch leaves: leaves do not hash to the recorded root');
  if (entitlements.total !== BigInt(raw.total)) throw new Error('epoch leaves: leaves do not sum to the recorded total');
  const priced = pricedLeaves(raw, leaves);
  return { epoch: BigInt(raw.epoch), root, total: entitlements.total, leaves, entitlements, ...priced };
}

/** The price and earned amounts of published leaves, checked: every payee's earned is exactly units × price. */
function pricedLeaves(raw: Partial<EpochLeavesJson>, leaves: ReadonlyMap<bigint, bigint>): Pick<EpochLeaves, 'pricePerUnitNanoton' | 'earnedNanoton'> {
  if (raw.pricePerUnitNanoton === undefined && raw.earnedNanoton === undefined) return {};
  if (typeof raw.pricePerUnitNanoton !== 'string' || !/^[0-9]+$/.test(raw.pricePerUnitNanoton) || typeof raw.earnedNanoton !== 'object' || raw.earnedNanoton === null) {
    throw new Error('epoch leaves: "pricePerUnitNanoton" (decimal) and "earnedNanoton" come together');
  }
  const price = BigInt(raw.pricePerUnitNanoton);
  const earned = new Map<bigint, bigint>();
  for (const [k, v] of Object.entries(raw.earnedNanoton)) {
    const key = /^[0-9a-f]{64}$/.test(k) ? BigInt(`0x${k}`) : undefined;
    if (key === undefined || !leaves.has(key)) throw new Error(`epoch leaves: earnedNanoton names ${k}, which has no leaf`);
    if (!/^[0-9]+$/.test(v) || BigInt(v) !== leaves.get(key)! * price) throw new Error(`epoch leaves: earnedNanoton of ${k} is not its units × pricePerUnitNanoton`);
    earned.set(key, BigInt(v));
  }
  if (earned.size !== leaves.size) throw new Error('epoch leaves: earnedNanoton does not name every payee');
  return { pricePerUnitNanoton: price, earnedNanoton: earned };
}
