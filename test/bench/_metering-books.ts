// The chaos bench's check that metering lost nothing and added nothing, against the fleet's own books
// (dev/fleet/fleet.ts usageLedger). paid == committed == metered says that what was metered was settled
// exactly; this says that what was metered is what the replicas served:
//   - every token a replica served on a host that was never quarantined is in a report the service
//     accepted (once the traffic has ended and the replicas have reported again), and
//   - each ProviderNode's metered units lie between the price of what its replicas' accepted reports
//     carried and the price of what they sent at all: more would be units no report asked for (a report
//     folded twice), fewer would be accepted tokens that never became units.
// Tokens served on a quarantined host are refused by design (HOST_NOT_ATTESTED), so they are not asked for.
// A replica whose Pod went on a healthy host has one last report, which can miss its 10 s deadline under
// load: what that leaves unmetered is counted (lostWithPods), not failed on, as it is the documented limit
// of the sidecar's last report (docs/METERING.md).
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { pricingOf, scaledUnits, SCALE } from '../../operator/src/settlement/pricing.js';
import { meteredUnitsOf } from '../../operator/src/settlement/metering.js';
import type { ReplicaUsage, TokenCounts } from '../../dev/fleet/fleet.js';

export interface MeteringBooks {
  /** What is not (yet) as it must be, one line each; empty when the books agree. */
  violations: string[];
  /** ProviderNodes whose metered units equal the price of the accepted reports exactly (every answer came back). */
  exactNodes: number;
  nodes: number;
  /** Tokens served on healthy hosts, all of which are in accepted reports when `violations` is empty. */
  healthyTokens: bigint;
  /** Tokens of replicas whose Pod went on a healthy host and whose last report was not accepted. */
  lostWithPods: { replicas: number; tokens: bigint };
}

const tokensOf = (c: TokenCounts) => c.promptTokens + c.generationTokens;
const same = (a: TokenCounts, b: TokenCounts) => a.promptTokens === b.promptTokens && a.generationTokens === b.generationTokens && a.cachedPromptTokens === b.cachedPromptTokens;
const fmt = (c: TokenCounts) => `${c.promptTokens}/${c.generationTokens}`;

/** Compares the fleet's books with the ProviderNodes' metered units for `account` (pure). */
export function checkMeteringBooks(ledger: readonly ReplicaUsage[], providerNodes: readonly ProviderNode[], account: SettlementAccount, quarantined: readonly string[]): MeteringBooks {
  const violations: string[] = [];
  const refused = new Set(quarantined);
  let healthyTokens = 0n;
  const lostWithPods = { replicas: 0, tokens: 0n };
  const byNode = new Map<string, ReplicaUsage[]>();
  for (const r of ledger) {
    const onNode = byNode.get(r.node) ?? [];
    onNode.push(r);
    byNode.set(r.node, onNode);
    if (refused.has(r.node)) continue;
    healthyTokens += tokensOf(r.served);
    if (same(r.served, r.accepted)) continue;
    if (r.gone) {
      lostWithPods.replicas++;
      lostWithPods.tokens += tokensOf(r.served) - tokensOf(r.accepted);
    } else {
      violations.push(`replica ${r.pod} on ${r.node} served ${fmt(r.served)} prompt/generated tokens, the service accepted ${fmt(r.accepted)}`);
    }
  }
  let exactNodes = 0;
  // How metering names the account on a ProviderNode's status.usage.
  const accountKey = `${account.metadata?.namespace}/${account.metadata?.name}`;
  for (const pn of providerNodes) {
    const replicas = byNode.get(pn.spec.nodeName) ?? [];
    const pricing = pricingOf(account, pn);
    const unitsOf = (pick: (r: ReplicaUsage) => TokenCounts) => replicas.reduce((sum, r) => sum + scaledUnits(pick(r), pricing), 0n) / SCALE;
    const low = unitsOf((r) => r.accepted);
    const high = unitsOf((r) => r.sent);
    const metered = meteredUnitsOf(pn, accountKey);
    if (metered < low || metered > high) {
      violations.push(`ProviderNode ${pn.metadata?.name}: metered ${metered} units, its replicas' accepted reports price to ${low}${high !== low ? ` and all they sent to ${high}` : ''}`);
    } else if (metered === low) {
      exactNodes++;
    }
  }
  return { violations, exactNodes, nodes: providerNodes.length, healthyTokens, lostWithPods };
}
