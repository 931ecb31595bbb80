// The settlement controller's pure part: what to do next for one SettlementAccount, from what status
// says, what the chain shows and what is metered. Time comes in as an argument (the chain's clock).
//
// The commit cycle, and why it is crash safe:
//   1. build the entitlement dictionary from the metered totals;
//   2. store its leaves (ConfigMap) — a root never reaches the chain without its leaves;
//   3. record status.pending {epoch, seqno, root, total, validUntil} — before anything is sent;
//   4. send the signed commit (seqno = the chain's, validUntil = now + validFor);
//   5. confirm by reading the chain: its seqno moved past pending.seqno → the commit applied (only this
//      operator's key signs commits, and the contract's seqno rule lets one message per seqno apply).
// After a crash anywhere, the next reconcile finds one of: no pending (1–3 redo, harmless), pending and the
// chain moved (→ confirm), pending and the chain did not move: before validUntil → resend the very same
// message (the seqno makes a second copy inert), after validUntil (+ skew margin) → the message can never
// apply, so build a new one (same epoch number, the chain's seqno, a new validUntil).
// Entitlements follow units, not addresses: metering attributes every folded unit to the payout address
// current when it was folded (ProviderNode status.usage[].payees), and a payee's leaf is the sum of what
// was attributed to it. Changing a payoutAddress therefore sends only later units to the new address; the
// whole history is never credited again, so Σ leaves == metered.
// Entitlements only grow: each payee's leaf is max(attributed, last committed leaf), so a deleted
// ProviderNode never takes back what was committed, and the contract's never-decreasing total holds.
// And they fit the contract: a leaf or total past uint64 is held at its last committed value (reported
// unpayable) instead of failing the commit for every other payee.
import { Address } from '@ton/core';
import type { ProviderNode } from '../../api/providernode.js';
import { payeeKey, UNITS_MAX } from '../../settlement/entitlements.js';

export interface PendingCommit {
  epoch: bigint;
  seqno: number;
  root: bigint;
  total: bigint;
  /** unix seconds */
  validUntil: number;
  /** unix seconds; when the message was last sent (undefined: recorded, never sent) */
  sentAt?: number;
}

export interface ChainCommitted {
  seqno: number;
  root: bigint;
  epoch: bigint;
  totalUnits: bigint;
}

export interface PlanInput {
  /** chain time, unix seconds */
  now: number;
  pending?: PendingCommit;
  chain: ChainCommitted;
  /** the dictionary the metered totals give now */
  desired: { root: bigint; total: bigint };
  /** unix seconds of the last confirmed commit (status.lastConfirmed.at); undefined before any */
  lastCommitAt?: number;
  periodSeconds: number;
  /** commit before the period ends once this many units are uncommitted */
  pushThresholdUnits?: bigint;
  /** validity of a commit message (default 120 s) */
  validForSeconds?: number;
  /** resend an unconfirmed message after this long (default 15 s) */
  resendAfterSeconds?: number;
  /** clock skew allowed between us and the chain before an unapplied message counts as dead (default 30 s) */
  skewSeconds?: number;
}

export type Plan =
  /** the chain applied the pending commit: record it as confirmed, clear pending */
  | { action: 'confirm'; pending: PendingCommit }
  /** send the pending commit (again) */
  | { action: 'send'; pending: PendingCommit }
  /** store leaves, record this new pending commit, send it */
  | { action: 'commit'; pending: PendingCommit; replacesExpired: boolean }
  /** nothing to send now; look again after `afterSeconds` */
  | { action: 'wait'; afterSeconds: number; reason: 'pending' | 'period' | 'synced' }
  /** the metered totals are below what is committed (leaves lost?): refuse to commit */
  | { action: 'blocked'; reason: string };

export const DEFAULT_VALID_FOR = 120;
export const DEFAULT_RESEND_AFTER = 15;
export const DEFAULT_SKEW = 30;

export function plan(input: PlanInput): Plan {
  const validFor = input.validForSeconds ?? DEFAULT_VALID_FOR;
  const resendAfter = input.resendAfterSeconds ?? DEFAULT_RESEND_AFTER;
  const skew = input.skewSeconds ?? DEFAULT_SKEW;
  const { now, chain, pending } = input;
  let replacesExpired = false;

  if (pending) {
    if (chain.seqno > pending.seqno) return { action: 'confirm', pending };
    if (now < pending.validUntil) {
      if (pending.sentAt === undefined || now >= pending.sentAt + resendAfter) return { action: 'send', pending };
      return { action: 'wait', afterSeconds: Math.max(1, Math.min(pending.sentAt + resendAfter, pending.validUntil) - now), reason: 'pending' };
    }
    if (now < pending.validUntil + skew) {
      return { action: 'wait', afterSeconds: Math.max(1, pending.validUntil + skew - now), reason: 'pending' };
    }
    replacesExpired = true; // dead: fall through and build a new one
  }

  const { desired } = input;
  if (desired.root === chain.root && desired.total === chain.totalUnits) {
    return { action: 'wait', afterSeconds: input.periodSeconds, reason: 'synced' };
  }
  if (desired.total < chain.totalUnits) {
    return { action: 'blocked', reason: `metered entitlements total ${desired.total} units, below the ${chain.totalUnits} already committed` };
  }
  const due = input.lastCommitAt === undefined ? now : input.lastCommitAt + input.periodSeconds;
  const pushed = input.pushThresholdUnits !== undefined && desired.total - chain.totalUnits >= input.pushThresholdUnits;
  if (now < due && !pushed && !replacesExpired) {
    return { action: 'wait', afterSeconds: due - now, reason: 'period' };
  }
  return {
    action: 'commit',
    replacesExpired,
    pending: { epoch: chain.epoch + 1n, seqno: chain.seqno, root: desired.root, total: desired.total, validUntil: now + validFor },
  };
}

export interface PayeeTotals {
  /** payee key → cumulative units to commit */
  leaves: Map<bigint, bigint>;
  /** all units metered for the account (payable or not) */
  metered: bigint;
  /** units that cannot be committed now, with the ProviderNode and/or payee and the reason (never silently dropped) */
  unpayable: Unpayable[];
}

export interface Unpayable {
  node?: string;
  payee?: string;
  units: bigint;
  reason: string;
}

/**
 * The entitlement leaves of one account: for every ProviderNode, the units its metering attributed to
 * each payout address (status.usage[].payees), summed per payee key, then raised to the last committed
 * leaf where that is higher (never decrease). A node's current spec.payoutAddress plays no part: what a
 * payee is owed depends only on the units folded while it was the node's address.
 */
export function payeeTotals(nodes: readonly ProviderNode[], account: string, lastCommitted: ReadonlyMap<bigint, bigint> = new Map()): PayeeTotals {
  const attributed = new Map<bigint, bigint>();
  const unpayable: PayeeTotals['unpayable'] = [];
  let metered = 0n;
  for (const node of nodes) {
    const entry = node.status?.usage?.find((u) => u.account === account);
    const units = BigInt(entry?.units ?? '0');
    if (units === 0n) continue;
    const name = node.metadata.name!;
    metered += units;
    const payees = entry?.payees ?? [];
    const sum = payees.reduce((acc, p) => acc + BigInt(p.units), 0n);
    if (sum > units) {
      // Attributed units the host never metered: the status is not what metering writes. Pay none of it.
      unpayable.push({ node: name, units, reason: `status.usage of ${account} attributes ${sum} units to payees but metered ${units}` });
      continue;
    }
    if (sum < units) {
      unpayable.push({ node: name, units: units - sum, reason: 'units metered before payout attribution; they are attributed to the payout address at the next folded report' });
    }
    for (const p of payees) {
      const u = BigInt(p.units);
      if (u === 0n) continue;
      let key: bigint;
      try {
        key = payeeKey(Address.parse(p.payee));
      } catch (err) {
        unpayable.push({ node: name, payee: p.payee, units: u, reason: err instanceof Error ? err.message : String(err) });
        continue;
      }
      attributed.set(key, (attributed.get(key) ?? 0n) + u);
    }
  }
  return { leaves: boundedLeaves(attributed, lastCommitted, unpayable), metered, unpayable };
}

/**
 * max(attributed, last committed) per payee, kept inside the contract's uint64: every committed leaf is
 * kept (their total was committed, so it fits), and each payee's growth above it is added, in key order,
 * while the total stays within 2^64 - 1; a payee whose growth would not fit stays at its committed leaf.
 */
function boundedLeaves(attributed: ReadonlyMap<bigint, bigint>, lastCommitted: ReadonlyMap<bigint, bigint>, unpayable: PayeeTotals['unpayable']): Map<bigint, bigint> {
  const leaves = new Map(lastCommitted);
  let total = [...lastCommitted.values()].reduce((a, b) => a + b, 0n);
  for (const key of [...attributed.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const floor = lastCommitted.get(key) ?? 0n;
    const want = attributed.get(key)!;
    if (want <= floor) continue;
    if (want > UNITS_MAX || total + (want - floor) > UNITS_MAX) {
      unpayable.push({ payee: payeeAddressText(key), units: want - floor, reason: 'the entitlement would exceed 2^64 - 1 units, which the settlement contract cannot hold' });
      continue;
    }
    leaves.set(key, want);
    total += want - floor;
  }
  return leaves;
}

function payeeAddressText(key: bigint): string {
  return `0:${key.toString(16).padStart(64, '0')}`;
}
