// The chaos bench's books check: it must name a healthy replica whose served tokens were never accepted,
// and a ProviderNode metered above what its replicas sent (a report folded twice) or below what they had
// accepted, while tokens refused by design (a quarantined host) and a lost last report are not failures.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import type { ReplicaUsage, TokenCounts } from '../../dev/fleet/fleet.js';
import { checkMeteringBooks } from './_metering-books.js';

const account = {
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount', metadata: { name: 'sandbox', namespace: 'chaos' },
  spec: { network: 'sandbox', pricePerUnitNanoton: '1000', tokenPriceMultipliers: { completionTokens: 30000 } },
} as unknown as SettlementAccount;

const counts = (promptTokens: number, generationTokens: number): TokenCounts => ({ promptTokens: BigInt(promptTokens), generationTokens: BigInt(generationTokens), cachedPromptTokens: 0n });

function replica(pod: string, node: string, served: TokenCounts, accepted = served, sent = accepted, gone = false): ReplicaUsage {
  return { pod: `chaos/${pod}`, node, gone, served, accepted, sent };
}

function node(name: string, units: number | undefined, priceCoefficient?: number): ProviderNode {
  return {
    metadata: { name },
    spec: { nodeName: name, ...(priceCoefficient ? { priceCoefficient } : {}) },
    status: units === undefined ? {} : { usage: [{ account: 'chaos/sandbox', units: String(units) }] },
  } as unknown as ProviderNode;
}

test('books that agree: units are the priced accepted tokens, floored per node', (t) => {
  // n1: 1000 prompt + 100 × 3 generated = 1300 units; n2 at 1.5×: (7 + 2 × 3) × 1.5 = 19.5 → 19.
  const ledger = [replica('a', 'n1', counts(600, 50)), replica('b', 'n1', counts(400, 50)), replica('c', 'n2', counts(7, 2))];
  const books = checkMeteringBooks(ledger, [node('n1', 1300), node('n2', 19, 1500)], account, []);
  t.deepEqual(books.violations, []);
  t.is(books.exactNodes, 2);
  t.is(books.healthyTokens, 1109n);
  t.deepEqual(books.lostWithPods, { replicas: 0, tokens: 0n });
});

test('a live replica on a healthy host whose served tokens were not all accepted is named', (t) => {
  const ledger = [replica('a', 'n1', counts(600, 50), counts(500, 40))];
  const books = checkMeteringBooks(ledger, [node('n1', 620)], account, []);
  t.deepEqual(books.violations, ['replica chaos/a on n1 served 600/50 prompt/generated tokens, the service accepted 500/40']);
});

test('tokens refused on a quarantined host, and a last report lost with its Pod, are not failures', (t) => {
  const ledger = [
    replica('q', 'n1', counts(600, 50), counts(500, 40)),
    replica('g', 'n2', counts(300, 30), counts(200, 20), counts(200, 20), true),
  ];
  const books = checkMeteringBooks(ledger, [node('n1', 620), node('n2', 260)], account, ['n1']);
  t.deepEqual(books.violations, []);
  t.deepEqual(books.lostWithPods, { replicas: 1, tokens: 110n });
  t.is(books.healthyTokens, 330n);
});

test('a node metered above what its replicas sent, or below what they had accepted, is named', (t) => {
  const ledger = [replica('a', 'n1', counts(600, 50), counts(600, 50), counts(600, 50))];
  // 750 units accepted and sent; a report folded twice would show more.
  t.deepEqual(checkMeteringBooks(ledger, [node('n1', 751)], account, []).violations, ['ProviderNode n1: metered 751 units, its replicas\' accepted reports price to 750']);
  t.deepEqual(checkMeteringBooks(ledger, [node('n1', 749)], account, []).violations, ['ProviderNode n1: metered 749 units, its replicas\' accepted reports price to 750']);
  t.deepEqual(checkMeteringBooks(ledger, [node('n1', undefined)], account, []).violations, ['ProviderNode n1: metered 0 units, its replicas\' accepted reports price to 750']);
});

test('a report folded whose answer was lost leaves the node between accepted and sent, not exact', (t) => {
  // Accepted 500/40 (620 units); the last report, 600/50 (750 units), was sent and its answer never came.
  const ledger = [replica('q', 'n1', counts(700, 60), counts(500, 40), counts(600, 50))];
  for (const units of [620, 700, 750]) {
    const books = checkMeteringBooks(ledger, [node('n1', units)], account, ['n1']);
    t.deepEqual(books.violations, [], `${units}`);
    t.is(books.exactNodes, units === 620 ? 1 : 0);
  }
  t.deepEqual(checkMeteringBooks(ledger, [node('n1', 751)], account, ['n1']).violations, ['ProviderNode n1: metered 751 units, its replicas\' accepted reports price to 620 and all they sent to 750']);
});
