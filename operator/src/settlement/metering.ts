// Metering: signed cumulative usage reports from attested replicas, folded into per-provider cumulative
// totals held in Kubernetes (ProviderNode status.usage, one entry per SettlementAccount).
//
// Trust (fail closed): a report counts only when
//   - the Pod is a replica: controlled by the InferencePool its chrysalis.dev/pool label names, that pool
//     existing with the uid the owner reference names (replica-owner.ts; a label alone is Pod metadata
//     anyone who may create Pods can write), and that pool names the SettlementAccount billed;
//   - the replica Pod exists, its `chrysalis.dev/attested` condition is True, and its host's ProviderNode
//     holds an unexpired key for exactly this Pod (namespace, name and uid) in status.attestedReplicas —
//     written only by the attestation service when the replica's evidence passed, through the status
//     subresource users are not granted (attestedReplicaKey), and that host's own attestation holds at
//     the report (attested-now.ts: Attested=True and unexpired). A replica's key can outlive its host's
//     attestation by up to a re-check interval (the service renews no key on a lapsed host, but it does
//     not shorten one already given), and tokens served on a host whose attestation has lapsed are not
//     paid for on the replica's word alone. Reports are cumulative, so a refused one is not lost: the
//     replica's next report, once the host is attested again, carries the same counters. Pod metadata
//     is writable by anyone who may patch Pods in the namespace, so a key or expiry found there is never
//     read;
//   - the report's signature over canonicalJson(report) verifies under that key;
//   - it moves the replica's cursor forward: same bootId → a higher sequence and no counter lower than
//     the last folded one; a new bootId → counters restart from zero (delta = the new counters); a bootId
//     seen before and retired → a replay.
// Anything else is refused with a stable code, nothing is folded, and the Pod gets a Warning Event.
//
// Exactly once: the per-replica cursor (bootId, sequence, last counters) lives in the SAME object as the
// totals (ProviderNode status.usageCursors beside status.usage) and both are written by one
// resourceVersion-conditioned update of the status subresource. A crash before the write folds nothing
// (the attester resends); a crash after it leaves the cursor ahead, so the resent report is a duplicate;
// two concurrent folds cannot both win (the loser gets 409 and re-folds against the new cursor).
//
// Whose fields: metering owns status.usage and status.usageCursors and writes nothing else, under its
// own field manager (chrysalis-metering), by a JSON merge patch of those two fields conditioned on the
// resourceVersion the fold was computed from. The ProviderNode controller applies only its own fields
// (see its plan.ts), so neither can put back what the other wrote.
//
// Payees: each folded delta is also attributed, in the same write, to the host's payout address as it
// stands in the ProviderNode object the update is conditioned on (status.usage[].payees). Entitlements
// follow units, not addresses: changing spec.payoutAddress sends only units folded afterwards to the new
// address, and what was attributed to the old one stays there — no unit is ever owed to two payees (the
// planner sums these entries; it never re-attributes history to the current address).
//
// Range: the contract holds units as uint64. A report whose counters, or whose fold would take the host's
// totals, past 2^64 - 1 is refused here (COUNTER_OUT_OF_RANGE), so it can never reach a commit and stall
// settlement for the account's other payees.
//
// Units (pricing.ts): the tokens of each folded delta are priced in Cocoon's shape — the SettlementAccount's
// tokenPriceMultipliers per token kind and the host's ProviderNode priceCoefficient, as they stand in the
// objects read for the fold — into billable units, which the contract pays pricePerUnitNanoton each. Per
// payee the credited units are the floor of the exact amount and the fraction is carried in
// status.usage[].payees[].remainder, written in the same conditioned update. A report for a
// SettlementAccount that does not exist cannot be priced and is refused (UNKNOWN_ACCOUNT). The cursor's
// units count the replica's billable tokens (prompt + generation), unpriced. GPU-seconds are metered and
// reported (capacity accounting, the CLI) but not billed.
import { Address } from '@ton/core';
import { signVerify } from '@ton/crypto';
import type { ProviderNode, ProviderNodeStatus, ProviderNodeStatusUsage, ProviderNodeStatusUsageCursor, ProviderNodeStatusUsagePayee } from '../api/index.js';
import type { InferencePool } from '../api/inferencepool.js';
import { attestedNow } from '../attestation/attested-now.js';
import { canonicalJson, type Reason, type SignedUsageReport, type UsageCounters } from '../attestation/service/protocol.js';
import { attestedReplicaKey } from '../attestation/service/replica-keys.js';
import { ProviderNodeReads, type FreshRead } from '../attestation/service/provider-node-reads.js';
import { claimedPool, whyNotAReplica } from '../attestation/service/replica-owner.js';
import type { KubeClient } from '../kube/kube-client.js';
import type { EventRecorder } from '../kube/events.js';
import { BY_NODE_NAME, nodeNameOf } from '../kube/indexes.js';
import type { Store } from '../kube/store.js';
import type { Informer } from '../kube/informer.js';
import { Pods, type KubeObject } from '../kube/resource.js';
import { isConflict } from '../kube/rest.js';
import { METERING_FIELD_MANAGER, READINESS_GATE_ATTESTED } from '../marks.js';
import { silentLogger, type Logger } from '../util/log.js';
import { UNITS_MAX } from './entitlements.js';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../kube/chrysalis-resources.js';
import type { SettlementAccount } from '../api/settlementaccount.js';
import { creditUnits, pricingOf, scaledUnits } from './pricing.js';

/** Pod condition set True by the attestation service when the replica's evidence passed. */
export const CONDITION_ATTESTED = READINESS_GATE_ATTESTED;

/** The contract's unit counters are uint64: no counter, per-host total or leaf may exceed UNITS_MAX. */
export { UNITS_MAX };

/** Payout addresses one host may have had per account (status.usage[].payees maxItems). */
export const MAX_PAYEES = 64;

/** How many earlier bootIds a cursor remembers (reports under them are replays). */
export const RETIRED_BOOT_IDS = 8;

export type UsageRejectionCode =
  | 'MALFORMED_REPORT'
  | 'UNKNOWN_REPLICA'
  | 'NOT_A_REPLICA'
  | 'UNKNOWN_PROVIDER'
  | 'NOT_ATTESTED'
  | 'HOST_NOT_ATTESTED'
  | 'ATTESTATION_EXPIRED'
  | 'KEY_MISMATCH'
  | 'SIGNATURE_INVALID'
  | 'SEQUENCE_REPLAYED'
  | 'BOOT_REPLAYED'
  | 'COUNTER_DECREASED'
  | 'COUNTER_OUT_OF_RANGE'
  | 'TOO_MANY_PAYEES'
  | 'UNKNOWN_ACCOUNT'
  | 'DUPLICATE_REPORT';

export interface UsageRejection {
  code: UsageRejectionCode;
  message: string;
  /**
   * True for an exact resend of the last folded report (an attester retrying after a lost answer): it
   * was already counted, so it is refused without a Warning Event.
   */
  benign?: boolean;
}

export interface Counters {
  promptTokens: bigint;
  generationTokens: bigint;
  gpuSeconds: bigint;
  /** Of promptTokens, those read from the server's prefix cache (0 from attesters that do not report them). */
  cachedPromptTokens: bigint;
}

export interface UsageDelta extends Counters {
  units: bigint;
}

export const ZERO_DELTA: UsageDelta = Object.freeze({ promptTokens: 0n, generationTokens: 0n, gpuSeconds: 0n, cachedPromptTokens: 0n, units: 0n });

/** Billable units of a counter set: one unit per prompt or generated token (GPU-seconds are not billed). */
export function unitsOf(c: Counters): bigint {
  return c.promptTokens + c.generationTokens;
}

/** What the attestation service established about a replica Pod: the input of the trust checks. */
export interface AttestedReplica {
  /** `<namespace>/<name>` */
  pod: string;
  podUid?: string;
  /** hex Ed25519 key the attestation service bound for this Pod (ProviderNode status.attestedReplicas) */
  publicKey?: string;
  /** the Pod's `chrysalis.dev/attested` condition is True and the host holds a key for the Pod */
  attested: boolean;
  /** why the replica is not attested, for the refusal's message */
  notAttestedBecause?: string;
  /**
   * The replica's own key holds but its host's attestation does not: refused as HOST_NOT_ATTESTED, which
   * the replica's attesting again cannot mend (the service refuses a replica on an unattested host).
   */
  hostNotAttested?: boolean;
  /** when the bound key lapses; absent or unparsable means expired */
  expiresAt?: string;
  /** `<namespace>/<name>` of the replica's InferencePool and of its SettlementAccount (recorded in the cursor) */
  pool?: string;
  account?: string;
}

export type UsageCursor = ProviderNodeStatusUsageCursor;

export interface UsageFold {
  /** The cursor after the fold; the input cursor unchanged when rejected. */
  newState: UsageCursor | undefined;
  delta: UsageDelta;
  rejection?: UsageRejection;
}

const DECIMAL = /^[0-9]{1,30}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

function parseCounters(c: UsageCounters | undefined): Counters | undefined {
  if (!c || typeof c !== 'object') return undefined;
  const { promptTokens, generationTokens, gpuSeconds } = c;
  const cachedPromptTokens = c.cachedPromptTokens ?? '0';
  for (const v of [promptTokens, generationTokens, gpuSeconds, cachedPromptTokens]) if (typeof v !== 'string' || !DECIMAL.test(v)) return undefined;
  const parsed = { promptTokens: BigInt(promptTokens), generationTokens: BigInt(generationTokens), gpuSeconds: BigInt(gpuSeconds), cachedPromptTokens: BigInt(cachedPromptTokens) };
  return parsed.cachedPromptTokens <= parsed.promptTokens ? parsed : undefined;
}

function cursorCounters(c: UsageCursor): Counters {
  return { promptTokens: BigInt(c.promptTokens ?? '0'), generationTokens: BigInt(c.generationTokens ?? '0'), gpuSeconds: BigInt(c.gpuSeconds ?? '0'), cachedPromptTokens: BigInt(c.cachedPromptTokens ?? '0') };
}

const COUNTER_FIELDS = ['promptTokens', 'generationTokens', 'gpuSeconds', 'cachedPromptTokens'] as const;

/** Structural check of a decoded SignedUsageReport; a message naming the bad field, or undefined. */
export function malformed(signed: SignedUsageReport): string | undefined {
  if (!signed || typeof signed !== 'object' || !signed.report || typeof signed.report !== 'object') return 'report is missing';
  const r = signed.report;
  if (typeof r.namespace !== 'string' || !r.namespace || typeof r.pod !== 'string' || !r.pod) return 'report.namespace and report.pod are required';
  if (typeof r.bootId !== 'string' || r.bootId.length < 1 || r.bootId.length > 128) return 'report.bootId must be 1..128 characters';
  if (!Number.isSafeInteger(r.sequence) || r.sequence < 0) return 'report.sequence must be a non-negative integer';
  if (!parseCounters(r.counters)) return 'report.counters must hold promptTokens, generationTokens and gpuSeconds (and optionally cachedPromptTokens, at most promptTokens) as decimal strings';
  if (typeof signed.signature !== 'string' || !HEX128.test(signed.signature.toLowerCase())) return 'signature must be 64 bytes, hex';
  return undefined;
}

function reject(state: UsageCursor | undefined, code: UsageRejectionCode, message: string, benign = false): UsageFold {
  return { newState: state, delta: ZERO_DELTA, rejection: { code, message, ...(benign ? { benign } : {}) } };
}

/**
 * The pure fold: checks one signed report against the replica's attestation and its cursor and returns
 * the new cursor and the delta to add to the totals, or a rejection (cursor unchanged, zero delta).
 * `state` is the replica's current cursor (undefined before its first folded report).
 */
export function foldUsage(state: UsageCursor | undefined, signed: SignedUsageReport, attestedKey: AttestedReplica | undefined, now: Date): UsageFold {
  const bad = malformed(signed);
  if (bad) return reject(state, 'MALFORMED_REPORT', bad);
  const r = signed.report;
  const podKey = `${r.namespace}/${r.pod}`;
  if (!attestedKey) return reject(state, 'UNKNOWN_REPLICA', `no replica Pod ${podKey}`);
  if (attestedKey.pod !== podKey) return reject(state, 'UNKNOWN_REPLICA', `report names ${podKey}, the key belongs to ${attestedKey.pod}`);
  if (!attestedKey.attested) return reject(state, attestedKey.hostNotAttested ? 'HOST_NOT_ATTESTED' : 'NOT_ATTESTED', `replica ${podKey} is not attested${attestedKey.notAttestedBecause ? `: ${attestedKey.notAttestedBecause}` : ''}`);
  const expires = attestedKey.expiresAt ? Date.parse(attestedKey.expiresAt) : Number.NaN;
  if (attestedKey.expiresAt && Number.isFinite(expires) && expires <= now.getTime()) {
    return reject(state, 'ATTESTATION_EXPIRED', `attestation of replica ${podKey} expired at ${attestedKey.expiresAt}`);
  }
  if (!attestedKey.publicKey || !HEX64.test(attestedKey.publicKey)) return reject(state, 'NOT_ATTESTED', `replica ${podKey} has no attested key`);
  if (!Number.isFinite(expires)) return reject(state, 'ATTESTATION_EXPIRED', `attestation of replica ${podKey} has no readable expiry; treated as expired`);
  let valid = false;
  try {
    valid = signVerify(Buffer.from(canonicalJson(r), 'utf8'), Buffer.from(signed.signature, 'hex'), Buffer.from(attestedKey.publicKey, 'hex'));
  } catch {
    valid = false;
  }
  if (!valid) return reject(state, 'SIGNATURE_INVALID', `signature of the report from ${podKey} does not verify under its attested key`);

  const counters = parseCounters(r.counters)!;
  for (const k of COUNTER_FIELDS) {
    if (counters[k] > UNITS_MAX) {
      return reject(state, 'COUNTER_OUT_OF_RANGE', `report.counters.${k} of ${podKey} is ${counters[k]}, above 2^64 - 1 (the settlement contract's uint64)`);
    }
  }
  // A cursor of an earlier Pod of the same name (other uid) does not apply to this one.
  const cursor = state && (!state.podUid || !attestedKey.podUid || state.podUid === attestedKey.podUid) ? state : undefined;
  const base = {
    pod: podKey,
    ...(attestedKey.podUid ? { podUid: attestedKey.podUid } : {}),
    ...(attestedKey.pool ? { pool: attestedKey.pool } : {}),
    ...(attestedKey.account ? { account: attestedKey.account } : {}),
    publicKey: attestedKey.publicKey,
  };
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const foldedUnits = BigInt(cursor?.units ?? '0');

  let delta: Counters;
  let retired = cursor?.retiredBootIds ?? [];
  if (cursor && cursor.bootId === r.bootId) {
    const last = cursorCounters(cursor);
    if (r.sequence <= cursor.sequence) {
      const same = r.sequence === cursor.sequence && COUNTER_FIELDS.every((k) => last[k] === counters[k]);
      return same
        ? reject(state, 'DUPLICATE_REPORT', `report ${r.bootId}#${r.sequence} from ${podKey} was already folded`, true)
        : reject(state, 'SEQUENCE_REPLAYED', `report ${r.bootId}#${r.sequence} from ${podKey} is not after the last folded #${cursor.sequence}`);
    }
    for (const k of COUNTER_FIELDS) {
      if (counters[k] < last[k]) {
        return reject(state, 'COUNTER_DECREASED', `${k} of ${podKey} went down from ${last[k]} to ${counters[k]} within boot ${r.bootId}`);
      }
    }
    delta = {
      promptTokens: counters.promptTokens - last.promptTokens,
      generationTokens: counters.generationTokens - last.generationTokens,
      gpuSeconds: counters.gpuSeconds - last.gpuSeconds,
      cachedPromptTokens: counters.cachedPromptTokens - last.cachedPromptTokens,
    };
    if (delta.cachedPromptTokens > delta.promptTokens) {
      return reject(state, 'MALFORMED_REPORT', `report ${r.bootId}#${r.sequence} from ${podKey} adds ${delta.cachedPromptTokens} cached prompt tokens but only ${delta.promptTokens} prompt tokens`);
    }
  } else {
    if (cursor && retired.includes(r.bootId)) {
      return reject(state, 'BOOT_REPLAYED', `report from ${podKey} is under boot ${r.bootId}, which has already ended`);
    }
    // A restart (or the replica's first report): counters count from zero under the new bootId.
    if (cursor) retired = [cursor.bootId, ...retired.filter((b) => b !== cursor.bootId)].slice(0, RETIRED_BOOT_IDS);
    delta = counters;
  }
  const units = unitsOf(delta);
  const newState: UsageCursor = {
    ...base,
    bootId: r.bootId,
    sequence: r.sequence,
    promptTokens: counters.promptTokens.toString(),
    generationTokens: counters.generationTokens.toString(),
    gpuSeconds: counters.gpuSeconds.toString(),
    ...(counters.cachedPromptTokens > 0n ? { cachedPromptTokens: counters.cachedPromptTokens.toString() } : {}),
    units: (foldedUnits + units).toString(),
    ...(retired.length ? { retiredBootIds: retired } : {}),
    at,
  };
  return { newState, delta: { ...delta, units } };
}

/**
 * The payee a host's units are attributed to: spec.payoutAddress in raw `<workchain>:<hex>` form, so that
 * every spelling of one address (raw, bounceable, non-bounceable) is one payee; an address that does not
 * parse is kept as written (settlement reports it unpayable, and its units stay with it).
 */
export function payeeOf(payoutAddress: string | undefined): string {
  const text = (payoutAddress ?? '').trim();
  try {
    return Address.parse(text).toRawString();
  } catch {
    return text;
  }
}

/**
 * Why adding `delta` to the account's entry, attributed to `payee`, cannot be recorded, or undefined: a
 * total past uint64 (the contract could never commit it) or one payout address too many.
 */
export function usageLimitRejection(usage: readonly ProviderNodeStatusUsage[] | undefined, account: string, payee: string, delta: UsageDelta): UsageRejection | undefined {
  const old = usage?.find((u) => u.account === account);
  for (const [field, value] of [['promptTokens', old?.promptTokens], ['generationTokens', old?.generationTokens], ['gpuSeconds', old?.gpuSeconds], ['units', old?.units]] as const) {
    if (BigInt(value ?? '0') + delta[field] > UNITS_MAX) {
      return { code: 'COUNTER_OUT_OF_RANGE', message: `the host's ${field} for ${account} would exceed 2^64 - 1, which the settlement contract cannot hold; the report is refused` };
    }
  }
  const payees = payeesOf(old);
  if (!payees.some((p) => p.payee === payee) && payees.length >= MAX_PAYEES) {
    return { code: 'TOO_MANY_PAYEES', message: `the host has already had ${MAX_PAYEES} payout addresses for ${account}; spec.payoutAddress ${payee} would be one more` };
  }
  return undefined;
}

function payeesOf(entry: ProviderNodeStatusUsage | undefined): ProviderNodeStatusUsagePayee[] {
  return entry?.payees ?? [];
}

/**
 * Adds a delta to the account's cumulative entry of a ProviderNode's usage list and attributes its units to
 * `payee` (pure). Units an entry holds beyond its payees (written before attribution existed) are
 * attributed to `payee` too, once: from then on the entry's payees sum to its units.
 */
export function addUsage(usage: readonly ProviderNodeStatusUsage[] | undefined, account: string, payee: string, delta: UsageDelta, remainder?: bigint): ProviderNodeStatusUsage[] {
  const list = [...(usage ?? [])];
  const i = list.findIndex((u) => u.account === account);
  const old = i >= 0 ? list[i]! : { account };
  const add = (v: string | undefined, d: bigint) => (BigInt(v ?? '0') + d).toString();
  const payees = payeesOf(old).map((p) => ({ ...p }));
  const attributed = payees.reduce((sum, p) => sum + BigInt(p.units), 0n);
  const unattributed = BigInt(old.units ?? '0') - attributed;
  const credit = delta.units + (unattributed > 0n ? unattributed : 0n);
  // The fraction of a unit this payee's priced tokens left over (pricing.ts creditUnits); none is written when 0.
  const carried = remainder !== undefined && remainder > 0n ? { remainder: remainder.toString() } : {};
  const j = payees.findIndex((p) => p.payee === payee);
  if (j >= 0) {
    const { remainder: _old, ...rest } = payees[j]!;
    payees[j] = { ...rest, payee, units: add(payees[j]!.units, credit), ...(remainder === undefined && _old ? { remainder: _old } : carried) };
  } else payees.push({ payee, units: credit.toString(), ...carried });
  const next: ProviderNodeStatusUsage = {
    account,
    promptTokens: add(old.promptTokens, delta.promptTokens),
    ...(old.cachedPromptTokens !== undefined || delta.cachedPromptTokens > 0n ? { cachedPromptTokens: add(old.cachedPromptTokens, delta.cachedPromptTokens) } : {}),
    generationTokens: add(old.generationTokens, delta.generationTokens),
    gpuSeconds: add(old.gpuSeconds, delta.gpuSeconds),
    units: add(old.units, delta.units),
    payees,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Replaces (or appends) the cursor of `cursor.pod` (pure). */
export function putCursor(cursors: readonly UsageCursor[] | undefined, cursor: UsageCursor): UsageCursor[] {
  const list = (cursors ?? []).filter((c) => c.pod !== cursor.pod);
  list.push(cursor);
  return list;
}

/** Cumulative units per account over a set of ProviderNodes' usage (pure). */
export function meteredUnitsOf(node: ProviderNode, account: string): bigint {
  const u = node.status?.usage?.find((x) => x.account === account);
  return BigInt(u?.units ?? '0');
}

// ---------------------------------------------------------------- ingestion service

export interface PodLike extends KubeObject {
  metadata?: KubeObject['metadata'];
  spec?: { nodeName?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export interface UsageIngestDeps {
  /** The per-host queue of status writes shared with the attestation service in this process (host-writes.ts). */
  hostWrites?: { run<T>(host: string, section: (waited: boolean) => Promise<T>): Promise<T> };
  /**
   * Reads (Pods, InferencePools, ProviderNodes) and the resourceVersion-conditioned status patch. The
   * client's own fence is the only one a fold passes (checked when asked and again at send); the
   * attestation service's client has none, since folds are safe without it: the update is conditioned.
   */
  client: KubeClient;
  /** Warning Events on the Pod for refused reports. */
  events?: EventRecorder;
  /**
   * The ProviderNode cache (the operator's shared informer): a Node's ProviderNode is found through its
   * spec.nodeName index, never by listing every ProviderNode per report. Before the informer's first sync
   * a report waits for it (bounded); a Node the cache then does not know is refused as UNKNOWN_PROVIDER,
   * and the attester's next report carries the same cumulative counters.
   */
  providerNodes: Pick<Store<ProviderNode & KubeObject>, 'addIndexer' | 'byIndex'> & Partial<Pick<Informer<ProviderNode & KubeObject>, 'hasSynced' | 'waitForSync'>>;
  /**
   * How the ProviderNode a fold is computed from is read (attestation/service/provider-node-reads.ts,
   * shared with the attestation service): the first try from the newest copy this process has, retries
   * and refusals confirmed on the apiserver's object. Default: every read from the apiserver.
   */
  providerNodeReads?: ProviderNodeReads;
  /**
   * The SettlementAccount cache, when the process has one: a report's account is priced from the cached
   * copy (read from the apiserver when the cache does not have it). A price change applies from when the
   * operator's watch delivers it, as it does for the controllers.
   */
  settlementAccounts?: Pick<Store<SettlementAccount & KubeObject>, 'get'>;
  now?: () => Date;
  logger?: Logger;
  /** Test hook: called after the fold is computed and before it is written (crash injection). */
  beforeWrite?: () => void | Promise<void>;
}

export interface UsageIngestResult {
  accepted: boolean;
  reasons: Reason[];
  /** The folded tokens, with units = the billable units credited for them (priced, whole). */
  delta?: UsageDelta;
  providerNode?: string;
  account?: string;
}

/**
 * Attempts of the conditioned update before giving up (each conflict re-reads and re-folds, after a short
 * jittered pause so that the replicas of one busy host do not keep colliding).
 */
const MAX_CONFLICTS = 30;

/** How long a report waits for an unsynced ProviderNode cache (right after start) before it is refused. */
const CACHE_SYNC_WAIT_MS = 10_000;

/**
 * The `/v1/usage` handler's back end: finds the replica's attestation, folds the report into its
 * ProviderNode's status with a conditioned update, and events refusals on the Pod.
 */
export class UsageIngest {
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly providerNodeReads: ProviderNodeReads;

  constructor(private readonly deps: UsageIngestDeps) {
    this.log = (deps.logger ?? silentLogger()).child({ component: 'metering' });
    this.now = deps.now ?? (() => new Date());
    this.providerNodeReads = deps.providerNodeReads ?? new ProviderNodeReads({ rest: deps.client.rest });
    deps.providerNodes.addIndexer(BY_NODE_NAME, nodeNameOf);
  }

  /**
   * Folds one signed report. `read` is the Pod and its pool as the caller (the attestation service, which
   * authorized the report's Pod moments ago) already read them from the apiserver: used instead of
   * reading them again when they are the report's. At a usage report per replica per interval, these two
   * GETs were a third of the service's requests, and its client rate limit queued attestations behind them.
   */
  async ingest(signed: SignedUsageReport, read?: { pod?: PodLike; pool?: InferencePool & KubeObject }): Promise<UsageIngestResult> {
    const bad = malformed(signed);
    if (bad) return this.refused(undefined, { code: 'MALFORMED_REPORT', message: bad });
    const r = signed.report;
    const given = read?.pod?.metadata?.namespace === r.namespace && read.pod.metadata?.name === r.pod ? read.pod : undefined;
    const pod = given ?? await this.deps.client.get<PodLike>(Pods, r.pod, r.namespace);
    if (!pod) return this.refused(undefined, { code: 'UNKNOWN_REPLICA', message: `no replica Pod ${r.namespace}/${r.pod}` });
    const podKey = `${r.namespace}/${r.pod}`;
    // A replica is a Pod its InferencePool controls (replica-owner.ts): the pool label alone is anyone's to write.
    const poolName = claimedPool(pod);
    const givenPool = given && read?.pool?.metadata?.namespace === r.namespace && read.pool.metadata?.name === poolName ? read.pool : undefined;
    const pool = givenPool ?? (poolName ? await this.deps.client.get<InferencePool & KubeObject>(InferencePools, poolName, r.namespace) : undefined);
    const notReplica = whyNotAReplica(pod, pool);
    if (notReplica) return this.refused(pod, { code: 'NOT_A_REPLICA', message: notReplica });
    const accountName = pool?.spec?.settlementAccountRef?.name;
    if (!accountName) return this.refused(pod, { code: 'NOT_A_REPLICA', message: `InferencePool ${r.namespace}/${poolName} of Pod ${podKey} is missing or has no settlementAccountRef` });
    const account = `${r.namespace}/${accountName}`;
    const settlementAccount = this.deps.settlementAccounts?.get(r.namespace, accountName) ?? await this.deps.client.get<SettlementAccount & KubeObject>(SettlementAccounts, accountName, r.namespace);
    if (!settlementAccount) return this.refused(pod, { code: 'UNKNOWN_ACCOUNT', message: `SettlementAccount ${account} that InferencePool ${r.namespace}/${poolName} bills does not exist; its tokens cannot be priced` });
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return this.refused(pod, { code: 'UNKNOWN_PROVIDER', message: `Pod ${podKey} is not bound to a Node` });
    let named = this.providerNodesNaming(nodeName);
    if (named.length === 0 && this.deps.providerNodes.hasSynced?.() === false) {
      // Just started: the informer's first list has not filled the cache yet. Wait for it (bounded) once.
      await this.deps.providerNodes.waitForSync?.(CACHE_SYNC_WAIT_MS).catch(() => undefined);
      named = this.providerNodesNaming(nodeName);
    }
    if (named.length !== 1) {
      return this.refused(pod, {
        code: 'UNKNOWN_PROVIDER',
        message: named.length === 0
          ? `Pod ${podKey} is bound to Node ${nodeName}, which no ProviderNode (in the operator's cache) names in spec.nodeName`
          : `Pod ${podKey} is bound to Node ${nodeName}, which ${named.length} ProviderNodes name (${named.sort().join(', ')}); whose usage it is cannot be told`,
      });
    }
    const pnodeName = named[0]!;

    // The read-modify-write of the host's status takes its turn with the attestation service's writes to
    // the same host (host-writes.ts), when the process shares one queue with it: a usage fold racing a
    // replica's verdict on one ProviderNode made one of them fail with 409 and start over.
    const foldOnHost = async (): Promise<UsageIngestResult> => {
      // The first read may be a copy (the write below is conditioned on it); after a conflict, and before a
      // refusal is sent, the apiserver's object: a copy that lags never refuses a report by itself.
      let fresh: FreshRead | false = this.providerNodeReads.fromCache ? false : 'no-cache';
      for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
        const node = await this.providerNodeReads.named(pnodeName, fresh) as (ProviderNode & KubeObject) | undefined;
        // A refusal decided on the apiserver's object is sent; one decided on a copy is decided again on it.
        const refuse = (rejection: UsageRejection): Promise<UsageIngestResult> | undefined => {
          if (fresh) return this.refused(pod, rejection);
          fresh = 'usage-refusal';
          return undefined;
        };
        let refusal: Promise<UsageIngestResult> | undefined;
        if (!node) {
          if ((refusal = refuse({ code: 'UNKNOWN_PROVIDER', message: `ProviderNode ${pnodeName} is gone` }))) return refusal;
          continue;
        }
        // The cache may lag: the object the fold is written to must still name the Pod's Node.
        if (node.spec?.nodeName !== nodeName) {
          if ((refusal = refuse({ code: 'UNKNOWN_PROVIDER', message: `ProviderNode ${pnodeName} no longer names Node ${nodeName} (spec.nodeName is ${node.spec?.nodeName ?? 'empty'})` }))) return refusal;
          continue;
        }
        const cursor = node.status?.usageCursors?.find((c) => c.pod === podKey);
        const now = this.now();
        // The key is read from the same ProviderNode object the fold is written to, so a key revoked by the
        // attestation service meanwhile makes the conditioned update conflict and the report is judged again.
        const identity = attestedReplicaOf(pod, node, now, `${r.namespace}/${poolName}`, account);
        const fold = foldUsage(cursor, signed, identity, now);
        if (fold.rejection) {
          if ((refusal = refuse(fold.rejection))) return refusal;
          continue;
        }
        // The payout address of this very object: the update below is conditioned on its resourceVersion,
        // so a payoutAddress changed meanwhile makes it conflict and the delta is attributed afresh.
        const payee = payeeOf(node.spec?.payoutAddress);
        // Priced with the coefficient of this very object (a change meanwhile makes the update conflict).
        const carried = node.status?.usage?.find((u) => u.account === account)?.payees?.find((p) => p.payee === payee)?.remainder;
        const credit = creditUnits(BigInt(carried ?? '0'), scaledUnits(fold.delta, pricingOf(settlementAccount, node)));
        const priced: UsageDelta = { ...fold.delta, units: credit.units };
        const limit = usageLimitRejection(node.status?.usage, account, payee, priced);
        if (limit) {
          if ((refusal = refuse(limit))) return refusal;
          continue;
        }
        const status: Pick<ProviderNodeStatus, 'usage' | 'usageCursors'> = {
          usage: addUsage(node.status?.usage, account, payee, priced, credit.remainder),
          usageCursors: putCursor(node.status?.usageCursors, fold.newState!),
        };
        await this.deps.beforeWrite?.();
        try {
          // metadata.resourceVersion makes the patch conditional: 409 if anyone wrote in between. The lists
          // are replaced whole (merge patch), computed from exactly that version.
          const written = await this.deps.client.patchMerge<ProviderNode & KubeObject>(ProviderNodes, pnodeName, undefined, { metadata: { resourceVersion: node.metadata.resourceVersion }, status }, 'status', { fieldManager: METERING_FIELD_MANAGER });
          this.providerNodeReads.remember(written);
        } catch (err) {
          if (isConflict(err)) {
            fresh = 'usage-conflict';
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(200, 10 * 2 ** Math.min(attempt, 5))));
            continue;
          }
          throw err;
        }
        this.log.debug('usage folded', { pod: podKey, providerNode: pnodeName, account, units: priced.units.toString() });
        return { accepted: true, reasons: [], delta: priced, providerNode: pnodeName, account };
      }
      throw new Error(`usage of ${podKey}: ProviderNode ${pnodeName} kept changing; ${MAX_CONFLICTS} conflicting updates in a row`);
    };
    return this.deps.hostWrites ? this.deps.hostWrites.run(nodeName, foldOnHost) : foldOnHost();
  }

  private providerNodesNaming(nodeName: string): string[] {
    return this.deps.providerNodes.byIndex(BY_NODE_NAME, nodeName).map((n) => n.metadata.name!);
  }

  private async refused(pod: PodLike | undefined, rejection: UsageRejection): Promise<UsageIngestResult> {
    this.log.warn('usage report refused', { code: rejection.code, message: rejection.message });
    if (pod && this.deps.events && !rejection.benign) {
      await this.deps.events.record({ apiVersion: 'v1', kind: 'Pod', ...pod }, {
        type: 'Warning', reason: 'UsageRejected', action: 'Meter', message: `${rejection.code}: ${rejection.message}`,
      });
    }
    return { accepted: false, reasons: [{ code: rejection.code, message: rejection.message }] };
  }
}

/**
 * What the attestation service established about a replica Pod: the key its host's ProviderNode holds for
 * exactly this Pod (attestedReplicaKey: same namespace, name and uid, not expired), whether that host is
 * attested now (attestedNow), and the Pod's attested condition. Nothing is read from the Pod's annotations
 * or labels.
 */
export function attestedReplicaOf(pod: PodLike, providerNode: ProviderNode | undefined, now: Date, pool?: string, account?: string): AttestedReplica {
  const meta = pod.metadata ?? {};
  const podKey = `${meta.namespace}/${meta.name}`;
  const condition = pod.status?.conditions?.some((c) => c.type === CONDITION_ATTESTED && c.status === 'True') ?? false;
  const common = {
    pod: podKey,
    ...(meta.uid ? { podUid: meta.uid } : {}),
    ...(pool ? { pool } : {}),
    ...(account ? { account } : {}),
  };
  const key = attestedReplicaKey(providerNode, pod, now);
  if (key && !attestedNow(providerNode, now)) {
    const hostExpiry = providerNode?.status?.attestation?.expiresAt;
    return {
      ...common,
      attested: false,
      hostNotAttested: true,
      notAttestedBecause: `its host's ProviderNode ${providerNode?.metadata?.name} is not attested now (${hostExpiry ? `attestation expires at ${hostExpiry}` : 'no attestation recorded'}, or its Attested condition is not True); ` +
        'the report is refused until the host is attested again, and the replica\'s next report then carries the same counters',
    };
  }
  if (key) return { ...common, attested: condition, publicKey: key.publicKey, expiresAt: key.expiresAt.toISOString() };
  // No usable key. Only to say why: an entry for this very Pod whose expiry has passed is an expiry.
  const lapsed = (providerNode?.status?.attestedReplicas ?? []).find((e) => e.namespace === meta.namespace && e.pod === meta.name && e.uid === meta.uid);
  const lapsedAt = lapsed ? Date.parse(lapsed.expiresAt) : Number.NaN;
  if (lapsed && Number.isFinite(lapsedAt) && lapsedAt <= now.getTime()) return { ...common, attested: condition, expiresAt: lapsed.expiresAt };
  return {
    ...common,
    attested: false,
    notAttestedBecause: `ProviderNode ${providerNode?.metadata?.name ?? '(none)'} holds no attested key for Pod ${podKey}${meta.uid ? ` (uid ${meta.uid})` : ''} in status.attestedReplicas`,
  };
}
