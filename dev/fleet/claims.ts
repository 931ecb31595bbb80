// The fleet's providers as payees: after each epoch a SettlementAccount confirms on its sandbox chain,
// every payee claims what the epoch entitles it to (Merkle proof from the stored leaves), through its own
// client on the chain's state directory — so paid catches up with committed, as real providers would.
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import type { RestClient } from '../../operator/src/kube/rest.js';
import { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';
import { claimAll } from '../../operator/src/settlement/claims.js';
import { sandboxStateDir } from '../../operator/src/settlement/keys.js';

/** Claims, when asked, for every payee of each newly confirmed epoch of the namespace's sandbox SettlementAccounts. */
export async function providerClaims(rest: RestClient, namespace: string, sandboxDir: string, say: (line: string) => void) {
  const client = new KubeClient(rest, NO_FENCE);
  const chains = new Map<string, SandboxChain>();
  const claimedEpoch = new Map<string, bigint>();
  return {
    async afterConfirmedEpochs(): Promise<void> {
      const accounts = await rest.request<{ items: SettlementAccount[] }>('GET', resourcePath(SettlementAccounts, namespace)).catch(() => ({ items: [] }));
      for (const account of accounts.items) {
        const id = `${account.metadata.namespace}/${account.metadata.name}`;
        const epoch = BigInt(account.status?.lastConfirmed?.epoch ?? 0);
        if (epoch === 0n || epoch <= (claimedEpoch.get(id) ?? 0n)) continue;
        let chain = chains.get(id);
        if (!chain) chains.set(id, (chain = new SandboxChain({ stateDir: sandboxStateDir(account, sandboxDir) })));
        try {
          const { epoch: claimed, results } = await claimAll(client, chain, account);
          const paid = results.filter((r) => r.outcome === 'paid');
          const failed = results.filter((r) => r.outcome === 'failed');
          say(`  claims for epoch ${claimed}: ${paid.length} payee${paid.length === 1 ? '' : 's'} paid ${paid.reduce((s, r) => s + r.paidAfter - r.paidBefore, 0n)} units${failed.length ? `, ${failed.length} refused by the contract` : ''}`);
          if (!failed.length) claimedEpoch.set(id, claimed);
        } catch (err) {
          say(`  claims for ${id} wait: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    },
    async close(): Promise<void> {
      for (const chain of chains.values()) await chain.close();
    },
  };
}
