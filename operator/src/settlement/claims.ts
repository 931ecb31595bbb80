// Claims: a payee (or anyone on its behalf — the money always goes to the payee's own address) proves its
// cumulative entitlement against the committed root and the contract pays (cumulative − paid) × price
// minus commission. Proofs are built from the leaves the settlement controller stored for the epoch the
// chain shows (leaves-store.ts); a leaf set that does not hash to the chain's root is never used.
//
// claimAll is what the fleet simulator and the demo call after each commit so that paid catches up with
// metered; `chrysalis settlement claim --payee` calls claimFor.
import { toNano, type Address } from '@ton/core';
import type { SettlementAccount } from '../api/settlementaccount.js';
import type { KubeClient } from '../kube/kube-client.js';
import { parseAddress, readContract, type ChainSession, type SettlementChain } from './chain/chain.js';
import { Settlement } from './contract/Settlement.js';
import { entitlementProof, payeeAddress } from './entitlements.js';
import { loadLeaves, type StoredEpoch } from './leaves-store.js';
import { SettlementAccounts } from '../kube/chrysalis-resources.js';
import type { KubeObject } from '../kube/resource.js';

/** Value attached to a claim for gas; what is left is forwarded to the payee. */
export const CLAIM_VALUE = toNano('0.05');

export interface ClaimResult {
  payee: string;
  key: bigint;
  /** the payee's cumulative entitlement in the committed epoch */
  entitled: bigint;
  paidBefore: bigint;
  paidAfter: bigint;
  outcome: 'paid' | 'nothing-to-claim' | 'failed' | 'not-a-payee';
}

export interface CommittedLeaves {
  address: Address;
  stored: StoredEpoch;
}

/** The contract address of an account and the leaves of the epoch its chain shows now. */
export async function committedLeaves(client: KubeClient, chain: SettlementChain, account: SettlementAccount): Promise<CommittedLeaves | undefined> {
  const ns = account.metadata.namespace!;
  const name = account.metadata.name!;
  const text = account.status?.contractAddress ?? account.spec.contractAddress;
  if (!text) throw new Error(`SettlementAccount ${ns}/${name} has no contract yet (status.contractAddress is empty)`);
  const address = parseAddress(text, 'status.contractAddress');
  const view = await chain.run((s) => readContract(s, address));
  if (!view.deployed || view.committed.epoch === 0n) return undefined;
  const stored = await loadLeaves(client, ns, name, view.committed.epoch);
  if (!stored) throw new Error(`the leaves of epoch ${view.committed.epoch} of ${ns}/${name} are not stored; no proof can be built`);
  if (stored.root !== view.committed.root) throw new Error(`the stored leaves of epoch ${view.committed.epoch} of ${ns}/${name} do not hash to the root on chain`);
  return { address, stored };
}

async function claimIn(s: ChainSession, address: Address, stored: StoredEpoch, key: bigint, value: bigint, pollAttempts: number): Promise<ClaimResult> {
  const contract = Settlement.createFromAddress(address);
  const provider = s.provider(address);
  const payee = payeeAddress(key).toString();
  const entitled = stored.leaves.get(key);
  const paidBefore = await contract.getPaidUnits(provider, key);
  if (entitled === undefined) return { payee, key, entitled: 0n, paidBefore, paidAfter: paidBefore, outcome: 'not-a-payee' };
  if (entitled <= paidBefore) return { payee, key, entitled, paidBefore, paidAfter: paidBefore, outcome: 'nothing-to-claim' };
  await contract.sendClaim(provider, s.sender(), { value, payee: key, proof: entitlementProof(stored.entitlements, [key]) });
  // A claim is an internal message: it does not throw when the contract refuses it. Read the result (on a
  // live network the message takes a few seconds to land; wait for it, which also keeps the wallet's
  // seqno in step for the next claim).
  let paidAfter = await contract.getPaidUnits(s.provider(address), key);
  for (let i = 0; i < pollAttempts && paidAfter < entitled; i++) {
    await new Promise((r) => setTimeout(r, 2_000));
    paidAfter = await contract.getPaidUnits(s.provider(address), key);
  }
  return { payee, key, entitled, paidBefore, paidAfter, outcome: paidAfter >= entitled ? 'paid' : 'failed' };
}

function polls(chain: SettlementChain): number {
  return chain.network === 'sandbox' ? 0 : 30;
}

/** A new epoch was committed after the leaves were read: every proof built from them is against a root the contract no longer holds. */
export class StaleEpoch extends Error {
  constructor(readonly readEpoch: bigint, readonly chainEpoch: bigint) {
    super(`epoch ${chainEpoch} was committed after the leaves of epoch ${readEpoch} were read; the contract would refuse proofs against the old root — claim again`);
  }
}

/**
 * In the session that claims: the epoch the chain shows must still be the one the leaves were read for.
 * committedLeaves reads them in a session of its own, and the settlement controller may commit in
 * between (the chaos bench's claims were refused that way now and then: "refused by the contract").
 * On the sandbox the session holds the chain, so nothing commits after this check; on a live network it
 * narrows the window to the claims' own messages.
 */
async function assertStillCommitted(s: ChainSession, committed: CommittedLeaves): Promise<void> {
  const now = (await readContract(s, committed.address)).committed.epoch;
  if (now !== committed.stored.epoch) throw new StaleEpoch(committed.stored.epoch, now);
}

/** Claims for one payee (on a live network the sender's wallet pays the gas and waits are the caller's). Throws StaleEpoch when the leaves are no longer the committed ones. */
export async function claimFor(chain: SettlementChain, committed: CommittedLeaves, payee: bigint, value = CLAIM_VALUE): Promise<ClaimResult> {
  return chain.run(async (s) => {
    await assertStillCommitted(s, committed);
    return claimIn(s, committed.address, committed.stored, payee, value, polls(chain));
  });
}

/** How many times claimAll reads the leaves again when an epoch was committed while it was about to claim. */
const STALE_EPOCH_RETRIES = 3;

/** Claims for every payee of the account's committed epoch that has something to claim. */
export async function claimAll(client: KubeClient, chain: SettlementChain, account: { namespace: string; name: string } | SettlementAccount, value = CLAIM_VALUE): Promise<{ epoch: bigint; results: ClaimResult[] }> {
  const acct = 'spec' in account ? account : await client.get<SettlementAccount & KubeObject>(SettlementAccounts, account.name, account.namespace);
  if (!acct) throw new Error('SettlementAccount not found');
  for (let attempt = 0; ; attempt++) {
    const committed = await committedLeaves(client, chain, acct);
    if (!committed) return { epoch: 0n, results: [] };
    try {
      const results = await chain.run(async (s) => {
        await assertStillCommitted(s, committed);
        const out: ClaimResult[] = [];
        for (const key of committed.stored.leaves.keys()) {
          const r = await claimIn(s, committed.address, committed.stored, key, value, polls(chain));
          if (r.outcome !== 'nothing-to-claim') out.push(r);
        }
        return out;
      });
      return { epoch: committed.stored.epoch, results };
    } catch (err) {
      // Read the new epoch's leaves and claim against it; a chain that commits faster than that is said.
      if (!(err instanceof StaleEpoch) || attempt >= STALE_EPOCH_RETRIES) throw err;
    }
  }
}
