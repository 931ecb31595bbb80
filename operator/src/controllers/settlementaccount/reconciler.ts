// The settlement controller: one reconcile per SettlementAccount key, observe → plan (plan.ts) → act.
//
// Observe: the account (fresh GET: status.pending must be current), its signing key (keys.ts), the chain
// (one unit of work: deploy if needed, read seqno / committed / balance), the metered totals (ProviderNode
// status.usage for this account) and the last committed epoch's leaves.
// Act, for a new commit: store the leaves → record status.pending (conditioned on the resourceVersion we
// read, so a stale process cannot overwrite a newer pending) → send → read the chain again and record the
// result (confirmed, or pending.sentAt). Every step is idempotent and the order makes a crash between any
// two of them recoverable (see plan.ts). Status is written only through the status subresource and only
// when it changed.
//
// Endpoint errors set EndpointUnreachable=True and rethrow: the work queue retries with its per-key
// exponential backoff (5 ms doubling to 5 min). Conditions: Synced, Underfunded, EndpointUnreachable.
import type { KeyPair } from '@ton/crypto';
import type { ProviderNode } from '../../api/providernode.js';
import type { SettlementAccount, SettlementAccountStatus } from '../../api/settlementaccount.js';
import type { KubeClient } from '../../kube/kube-client.js';
import { setCondition, toKubeTime, type Condition } from '../../kube/conditions.js';
import { TerminalError, type ReconcileContext, type ReconcileResult, type Reconciler } from '../../kube/controller.js';
import type { EventRecorder } from '../../kube/events.js';
import { parseObjectKey, type KubeObject } from '../../kube/resource.js';
import { statusEqual } from '../../kube/status.js';
import { silentLogger, type Logger } from '../../util/log.js';
import {
  EndpointUnreachableError, ensureDeployed, parseAddress, readContract, type ContractView, type SettlementChain,
} from '../../settlement/chain/chain.js';
import { Settlement } from '../../settlement/contract/Settlement.js';
import { buildEntitlements } from '../../settlement/entitlements.js';
import { AccountConfigError, keyPairFromSecret, openChain, operatorKeySecret, type ChainFactoryOptions } from '../../settlement/keys.js';
import { loadLeaves, saveLeaves, type StoredEpoch } from '../../settlement/leaves-store.js';
import { SettlementAccounts } from '../../kube/chrysalis-resources.js';
import { toNano } from '@ton/core';
import { payeeTotals, plan, type PendingCommit, type Plan, type Unpayable } from './plan.js';

export type CrashPoint = 'before-pending-write' | 'after-pending-before-send' | 'after-send-before-confirm' | 'after-confirm';

export interface SettlementReconcilerDeps {
  /** Fenced client (all writes check leadership). */
  client: KubeClient;
  events?: EventRecorder;
  /** ProviderNodes as the metering wrote them (an informer's list, or a fresh list). */
  listProviderNodes: () => ProviderNode[] | Promise<ProviderNode[]>;
  /** How to reach each account's chain (default: keys.openChain with `chain`). */
  openChain?: (account: SettlementAccount, keyPair: KeyPair) => SettlementChain;
  chain?: ChainFactoryOptions;
  /** Funding the controller sends when it deploys a sandbox contract (default 100 TON). */
  sandboxFunding?: bigint;
  /** Funding for a contract it deploys on a live network (default 0.5 TON). */
  liveFunding?: bigint;
  validForSeconds?: number;
  resendAfterSeconds?: number;
  logger?: Logger;
  /** Crash injection for tests: throw from it to abandon the reconcile at that point. */
  crashPoint?: (point: CrashPoint, account: string) => void | Promise<void>;
}

export const CONDITION_SYNCED = 'Synced';
export const CONDITION_UNDERFUNDED = 'Underfunded';
export const CONDITION_ENDPOINT_UNREACHABLE = 'EndpointUnreachable';

const DEFAULT_PERIOD = 300;

interface ChainEntry {
  chain: SettlementChain;
  fingerprint: string;
  keyChecked?: string;
}

export class SettlementReconciler implements Reconciler {
  private readonly chains = new Map<string, ChainEntry>();
  private readonly keys = new Map<string, { fingerprint: string; keyPair: KeyPair }>();
  private readonly leaves = new Map<string, StoredEpoch>();
  private readonly log: Logger;

  constructor(private readonly deps: SettlementReconcilerDeps) {
    this.log = (deps.logger ?? silentLogger()).child({ component: 'settlement' });
  }

  /** Closes every chain this reconciler opened. */
  async close(): Promise<void> {
    await Promise.all([...this.chains.values()].map((e) => e.chain.close()));
    this.chains.clear();
  }

  async reconcile(key: string, ctx?: ReconcileContext): Promise<ReconcileResult> {
    const { namespace, name } = parseObjectKey(key);
    if (!namespace) throw new TerminalError('BadKey', `SettlementAccount key ${key} has no namespace`);
    const log = ctx?.log ?? this.log.child({ key });
    const accountId = `${namespace}/${name}`;
    let account = await this.deps.client.get<SettlementAccount & KubeObject>(SettlementAccounts, name, namespace);
    if (!account) {
      await this.forget(accountId);
      return {};
    }
    const status: SettlementAccountStatus = { ...account.status };
    let keyPair: KeyPair;
    let chain: SettlementChain;
    try {
      keyPair = await this.keyPairFor(account);
      chain = this.chainFor(account, keyPair);
    } catch (err) {
      if (!(err instanceof AccountConfigError)) throw err;
      // The spec, or the Secret it names, cannot be used: say which field and how to fix it. The message
      // names fields, Secrets and labels only, never what a Secret holds.
      const conditions = setCondition(status.conditions as Condition[] | undefined, {
        type: CONDITION_SYNCED, status: 'False', reason: err.reason, message: err.message,
      }, new Date());
      await this.writeStatus(account, { ...status, conditions });
      await this.event(account, 'Warning', err.reason, err.message);
      // Secrets are not watched: look again later for a label or Secret added since. A bad spec is fixed
      // by an edit of the account, which the watch delivers.
      if (err.reason.startsWith('WalletSecret')) return { requeueAfterMs: 30_000 };
      throw new TerminalError(err.reason, err.message);
    }

    // ---- observe the chain (deploying the contract if the operator owns that)
    let observed: { view: ContractView; now: number };
    try {
      observed = await chain.run(async (s) => {
        const known = status.contractAddress ?? account!.spec.contractAddress;
        const address = known
          ? parseAddress(known, 'spec.contractAddress')
          : await ensureDeployed(s, {
            operatorPublicKey: keyPair.publicKey,
            pricePerUnit: BigInt(account!.spec.pricePerUnitNanoton),
            commissionBps: account!.spec.commissionBasisPoints ?? 0,
            ...(account!.spec.feeAddress ? { feeAddress: parseAddress(account!.spec.feeAddress, 'spec.feeAddress') } : {}),
            value: chain.network === 'sandbox' ? (this.deps.sandboxFunding ?? toNano('100')) : (this.deps.liveFunding ?? toNano('0.5')),
          });
        const view = await readContract(s, address);
        const entry = this.chains.get(accountId)!;
        if (view.deployed && entry.keyChecked !== address.toRawString()) {
          const params = await Settlement.createFromAddress(address).getParams(s.provider(address));
          if (!params.operatorPublicKey.equals(keyPair.publicKey)) {
            throw new TerminalError('OperatorKeyMismatch', `the contract at ${address.toString()} expects another operator key than the one in the account's Secret`);
          }
          entry.keyChecked = address.toRawString();
        }
        return { view, now: s.now() };
      });
    } catch (err) {
      if (err instanceof EndpointUnreachableError) {
        const conditions = setCondition(status.conditions as Condition[] | undefined, {
          type: CONDITION_ENDPOINT_UNREACHABLE, status: 'True', reason: 'EndpointError', message: err.message,
        }, new Date());
        await this.writeStatus(account, { ...status, conditions });
        throw err; // retried with backoff
      }
      if (err instanceof TerminalError) {
        const conditions = setCondition(status.conditions as Condition[] | undefined, {
          type: CONDITION_SYNCED, status: 'False', reason: err.reason, message: err.message,
        }, new Date());
        await this.writeStatus(account, { ...status, conditions });
      }
      throw err;
    }
    const { view, now } = observed;
    status.contractAddress = view.address.toString();
    if (!view.deployed) {
      const conditions = setCondition(status.conditions as Condition[] | undefined, {
        type: CONDITION_SYNCED, status: 'False', reason: 'ContractNotDeployed',
        message: `no active settlement contract at ${status.contractAddress}`,
      }, new Date(now * 1000));
      await this.writeStatus(account, { ...status, conditions });
      return { requeueAfterMs: 60_000 };
    }

    // ---- observe metering
    const last = view.committed.epoch > 0n ? await this.leavesOf(account, view.committed.epoch, view.committed.root, log) : undefined;
    const totals = payeeTotals(await this.deps.listProviderNodes(), accountId, last?.leaves);
    const desired = buildEntitlements(totals.leaves);
    const pending = pendingOf(status);
    const p = plan({
      now, pending,
      chain: { seqno: view.seqno, root: view.committed.root, epoch: view.committed.epoch, totalUnits: view.committed.totalUnits },
      desired: { root: desired.root, total: desired.total },
      ...(status.lastConfirmed?.at ? { lastCommitAt: Math.floor(Date.parse(status.lastConfirmed.at) / 1000) } : {}),
      periodSeconds: account.spec.commitPeriodSeconds ?? DEFAULT_PERIOD,
      ...(account.spec.pushThresholdUnits ? { pushThresholdUnits: BigInt(account.spec.pushThresholdUnits) } : {}),
      ...(this.deps.validForSeconds !== undefined ? { validForSeconds: this.deps.validForSeconds } : {}),
      ...(this.deps.resendAfterSeconds !== undefined ? { resendAfterSeconds: this.deps.resendAfterSeconds } : {}),
    });
    log.debug('plan', { action: p.action });

    const observedStatus = (v: ContractView, extra: Partial<SettlementAccountStatus> = {}): SettlementAccountStatus => {
      const next: SettlementAccountStatus = {
        ...status,
        ...extra,
        observedGeneration: account!.metadata.generation ?? 0,
        balanceNanoton: v.balance.toString(),
        totals: { metered: totals.metered.toString(), committed: v.committed.totalUnits.toString(), paid: v.committed.paidTotal.toString() },
      };
      let c = setCondition(next.conditions as Condition[] | undefined, { type: CONDITION_ENDPOINT_UNREACHABLE, status: 'False', reason: 'Reachable', message: `${chainLabel(chain)} answered` }, new Date(now * 1000));
      c = setCondition(c, v.committed.shortfall > 0n
        ? { type: CONDITION_UNDERFUNDED, status: 'True', reason: 'BalanceBelowOwed', message: `the contract needs ${v.committed.shortfall} more nanoton to cover what is owed plus its reserve; claims wait for a deposit` }
        : { type: CONDITION_UNDERFUNDED, status: 'False', reason: 'Funded', message: 'the balance covers everything owed' }, new Date(now * 1000));
      c = setCondition(c, syncedCondition(next, totals.metered, v, totals.unpayable, p), new Date(now * 1000));
      next.conditions = c;
      if (next.pending === undefined) delete next.pending;
      return next;
    };

    switch (p.action) {
      case 'confirm': {
        account = await this.writeStatus(account, observedStatus(view, confirmed(p.pending, view, now)));
        await this.deps.crashPoint?.('after-confirm', accountId);
        await this.event(account, 'Normal', 'Committed', `epoch ${view.committed.epoch} confirmed on chain: ${view.committed.totalUnits} units, root ${hex(view.committed.root).slice(0, 16)}…`);
        return { requeueAfterMs: 0 };
      }
      case 'commit':
      case 'send': {
        if (p.action === 'commit') {
          // Leaves first: a root never reaches the chain without them.
          // The leaves publish units and what they earn at the account's price (units × pricePerUnitNanoton).
          await saveLeaves(this.deps.client, namespace, name, p.pending.epoch, totals.leaves, BigInt(account!.spec.pricePerUnitNanoton));
          this.leaves.set(cacheKey(accountId, p.pending.epoch, p.pending.root), { epoch: p.pending.epoch, root: desired.root, total: desired.total, leaves: totals.leaves, entitlements: desired });
          await this.deps.crashPoint?.('before-pending-write', accountId);
          account = await this.writeStatus(account, observedStatus(view, { pending: pendingStatus(p.pending) }), { conditioned: true });
          status.pending = pendingStatus(p.pending);
          await this.deps.crashPoint?.('after-pending-before-send', accountId);
        }
        const sent = await this.send(chain, view, p.pending, keyPair, log);
        await this.deps.crashPoint?.('after-send-before-confirm', accountId);
        if (!sent.ok) await this.event(account, 'Warning', 'CommitRefused', sent.reason);
        const after = sent.view;
        if (after.seqno > p.pending.seqno) {
          account = await this.writeStatus(account, observedStatus(after, confirmed(p.pending, after, now)));
          await this.deps.crashPoint?.('after-confirm', accountId);
          await this.event(account, 'Normal', 'Committed', `epoch ${after.committed.epoch} confirmed on chain: ${after.committed.totalUnits} units, root ${hex(after.committed.root).slice(0, 16)}…`);
          return { requeueAfterMs: 0 };
        }
        const withSent = { ...p.pending, sentAt: now };
        await this.writeStatus(account, observedStatus(after, { pending: pendingStatus(withSent) }));
        return { requeueAfterMs: 5_000 };
      }
      case 'wait':
        await this.writeStatus(account, observedStatus(view));
        return { requeueAfterMs: Math.max(1, p.afterSeconds) * 1000 };
      case 'blocked':
        await this.writeStatus(account, observedStatus(view));
        await this.event(account, 'Warning', 'CommitBlocked', p.reason);
        return { requeueAfterMs: 60_000 };
    }
  }

  private async send(chain: SettlementChain, view: ContractView, pending: PendingCommit, keyPair: KeyPair, log: Logger): Promise<{ ok: boolean; reason: string; view: ContractView }> {
    return chain.run(async (s) => {
      let ok = true;
      let reason = '';
      try {
        await Settlement.createFromAddress(view.address).sendCommit(s.provider(view.address), {
          secretKey: keyPair.secretKey, seqno: pending.seqno, validUntil: pending.validUntil,
          epoch: pending.epoch, root: pending.root, totalUnits: pending.total,
        });
      } catch (err) {
        if (err instanceof EndpointUnreachableError) throw err;
        // Refused by the contract (or the endpoint): what the chain shows decides; say why.
        ok = false;
        const code = (err as { exitCode?: number }).exitCode;
        reason = `commit of epoch ${pending.epoch} (seqno ${pending.seqno}) was refused${code !== undefined ? ` with exit code ${code}` : ''}`;
        log.warn('commit refused', { epoch: pending.epoch.toString(), seqno: pending.seqno, exitCode: code });
      }
      return { ok, reason, view: await readContract(s, view.address) };
    });
  }

  private async leavesOf(account: SettlementAccount, epoch: bigint, root: bigint, log: Logger): Promise<StoredEpoch | undefined> {
    const id = `${account.metadata.namespace}/${account.metadata.name}`;
    const key = cacheKey(id, epoch, root);
    const cached = this.leaves.get(key);
    if (cached) return cached;
    const stored = await loadLeaves(this.deps.client, account.metadata.namespace!, account.metadata.name!, epoch);
    if (!stored || stored.root !== root) {
      log.warn('leaves of the committed epoch are not stored; entitlements rebuilt from metering alone', { epoch: epoch.toString() });
      return undefined;
    }
    for (const k of [...this.leaves.keys()]) if (k.startsWith(`${id}|`)) this.leaves.delete(k);
    this.leaves.set(key, stored);
    return stored;
  }

  private async keyPairFor(account: SettlementAccount): Promise<KeyPair> {
    const id = `${account.metadata.namespace}/${account.metadata.name}`;
    // The Secret is read (and its label checked) on every reconcile; only the key derivation is cached,
    // for the same version of the same Secret.
    const source = await operatorKeySecret(this.deps.client, account);
    const fingerprint = JSON.stringify([account.metadata.uid, account.spec.network, account.spec.walletSecretRef, source.version]);
    const cached = this.keys.get(id);
    if (cached?.fingerprint === fingerprint) return cached.keyPair;
    const keyPair = await keyPairFromSecret(account, source);
    this.keys.set(id, { fingerprint, keyPair });
    return keyPair;
  }

  private chainFor(account: SettlementAccount, keyPair: KeyPair): SettlementChain {
    const id = `${account.metadata.namespace}/${account.metadata.name}`;
    const fingerprint = JSON.stringify([account.metadata.uid, account.spec.network, account.spec.endpoint, account.spec.sandbox, keyPair.publicKey.toString('hex')]);
    const cached = this.chains.get(id);
    if (cached?.fingerprint === fingerprint) return cached.chain;
    if (cached) void cached.chain.close();
    const chain = this.deps.openChain
      ? this.deps.openChain(account, keyPair)
      : openChain(account, keyPair, this.deps.chain ?? { sandboxRoot: process.env.CHRYSALIS_SANDBOX_DIR ?? '/var/lib/chrysalis/sandbox' });
    this.chains.set(id, { chain, fingerprint });
    return chain;
  }

  private async forget(id: string): Promise<void> {
    const entry = this.chains.get(id);
    this.chains.delete(id);
    this.keys.delete(id);
    await entry?.chain.close();
  }

  private async writeStatus(account: SettlementAccount & KubeObject, status: SettlementAccountStatus, opts: { conditioned?: boolean } = {}): Promise<SettlementAccount & KubeObject> {
    if (!opts.conditioned && statusEqual(account.status, status)) return account;
    const body = {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount',
      metadata: {
        name: account.metadata.name, namespace: account.metadata.namespace,
        // A precondition: the write fails with 409 if the account changed since we read it.
        ...(opts.conditioned ? { resourceVersion: account.metadata.resourceVersion } : {}),
      },
      status,
    } as unknown as SettlementAccount & KubeObject;
    return this.deps.client.applyStatus(SettlementAccounts, body);
  }

  private async event(account: SettlementAccount & KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.deps.events?.record({ ...account, apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount' }, { type, reason, action: 'Settle', message });
  }
}

function cacheKey(id: string, epoch: bigint, root: bigint): string {
  return `${id}|${epoch}|${hex(root)}`;
}

function hex(v: bigint): string {
  return v.toString(16).padStart(64, '0');
}

function chainLabel(chain: SettlementChain): string {
  return chain.network === 'sandbox' ? 'the sandbox chain' : `the ${chain.network} endpoint`;
}

export function pendingOf(status: SettlementAccountStatus | undefined): PendingCommit | undefined {
  const p = status?.pending;
  if (!p || p.epoch === undefined || p.seqno === undefined || !p.root || !p.total || !p.validUntil) return undefined;
  return {
    epoch: BigInt(p.epoch), seqno: p.seqno, root: BigInt(`0x${p.root}`), total: BigInt(p.total),
    validUntil: Math.floor(Date.parse(p.validUntil) / 1000),
    ...(p.sentAt ? { sentAt: Math.floor(Date.parse(p.sentAt) / 1000) } : {}),
  };
}

function pendingStatus(p: PendingCommit): NonNullable<SettlementAccountStatus['pending']> {
  return {
    epoch: Number(p.epoch), seqno: p.seqno, root: hex(p.root), total: p.total.toString(),
    validUntil: toKubeTime(new Date(p.validUntil * 1000)),
    ...(p.sentAt !== undefined ? { sentAt: toKubeTime(new Date(p.sentAt * 1000)) } : {}),
  };
}

function confirmed(pending: PendingCommit, view: ContractView, now: number): Partial<SettlementAccountStatus> {
  return {
    pending: undefined,
    lastConfirmed: {
      seqno: view.seqno - 1 >= pending.seqno ? view.seqno - 1 : pending.seqno,
      epoch: Number(view.committed.epoch),
      ...(view.lastTxHash ? { txHash: view.lastTxHash } : {}),
      at: toKubeTime(new Date(now * 1000)),
    },
  };
}

function syncedCondition(status: SettlementAccountStatus, metered: bigint, v: ContractView, unpayable: readonly Unpayable[], p: Plan) {
  const held = unpayable.reduce((a, u) => a + u.units, 0n);
  const extra = unpayable.length
    ? `; ${held} units cannot be committed (${unpayable.slice(0, 3).map((u) => `${[u.node ? `ProviderNode ${u.node}` : '', u.payee ? `payee ${u.payee}` : ''].filter(Boolean).join(', ')}: ${u.reason}`).join('; ')}${unpayable.length > 3 ? `; ${unpayable.length - 3} more` : ''})`
    : '';
  if (status.pending) {
    return { type: CONDITION_SYNCED, status: 'False' as const, reason: 'CommitPending', message: `epoch ${status.pending.epoch} (seqno ${status.pending.seqno}) recorded, waiting for the chain to apply it${extra}` };
  }
  if (p.action === 'blocked') return { type: CONDITION_SYNCED, status: 'False' as const, reason: 'CommitBlocked', message: p.reason };
  const uncommitted = metered - v.committed.totalUnits;
  return {
    type: CONDITION_SYNCED, status: 'True' as const, reason: v.committed.epoch > 0n ? 'Confirmed' : 'NothingCommitted',
    message: `${v.committed.epoch > 0n ? `epoch ${v.committed.epoch} confirmed on chain` : 'nothing committed yet'}; ${v.committed.totalUnits} of ${metered} metered units committed${uncommitted > 0n ? `, ${uncommitted} wait for the next period` : ''}${extra}`,
  };
}
