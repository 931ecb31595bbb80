// Entitlements follow units, not payout addresses: every history of usage folds, payoutAddress changes and
// commits, run through the real pure steps (metering's addUsage with the payee current at the fold, the
// planner's payeeTotals with the last committed leaves), commits exactly the metered units, each payee
// exactly what was folded while it was the address, and never lowers a committed leaf.
import test from 'ava';
import fc from 'fast-check';
import { Address } from '@ton/core';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { payeeTotals } from '../../operator/src/controllers/settlementaccount/plan.js';
import { buildEntitlements, payeeKey, UNITS_MAX } from '../../operator/src/settlement/entitlements.js';
import { addUsage, MAX_PAYEES, payeeOf, usageLimitRejection, ZERO_DELTA, type UsageDelta } from '../../operator/src/settlement/metering.js';

const ACCOUNT = 'ns/acct';
const ADDRESSES = Array.from({ length: 6 }, (_, i) => new Address(0, Buffer.alloc(32, i + 1)));
// Spellings of one address differ; attribution must not.
const SPELLINGS = [(a: Address) => a.toRawString(), (a: Address) => a.toString(), (a: Address) => a.toString({ bounceable: false })];

function delta(units: bigint): UsageDelta {
  return { ...ZERO_DELTA, promptTokens: units, units };
}

function providerNode(name: string, payout: string): ProviderNode {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name },
    spec: { nodeName: name, tee: 'simulated', gpus: { model: 'H100', count: 8 }, payoutAddress: payout },
    status: {},
  };
}

type Step =
  | { kind: 'fold'; node: number; units: bigint }
  | { kind: 'payout'; node: number; address: number; spelling: number }
  | { kind: 'commit' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('fold' as const), node: fc.nat(2), units: fc.bigInt({ min: 1n, max: 1_000n }) }),
  fc.record({ kind: fc.constant('payout' as const), node: fc.nat(2), address: fc.nat(ADDRESSES.length - 1), spelling: fc.nat(SPELLINGS.length - 1) }),
  fc.record({ kind: fc.constant('commit' as const) }),
);

test('over random histories of usage and payout address changes, the committed leaves sum to the metered units and never decrease', (t) => {
  fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
    const nodes = [0, 1, 2].map((i) => providerNode(`n${i}`, ADDRESSES[i]!.toRawString()));
    let committed = new Map<bigint, bigint>();
    let metered = 0n;
    const owed = new Map<bigint, bigint>(); // the model: units folded while each address was current
    const check = () => {
      const totals = payeeTotals(nodes, ACCOUNT, committed);
      const leaves = totals.leaves;
      let sum = 0n;
      for (const v of leaves.values()) sum += v;
      if (sum !== metered || totals.metered !== metered) throw new Error(`committed ${sum}, metered ${metered}`);
      for (const [k, v] of committed) if ((leaves.get(k) ?? 0n) < v) throw new Error(`leaf ${k.toString(16)} went down from ${v} to ${leaves.get(k)}`);
      for (const [k, v] of owed) if (leaves.get(k) !== v) throw new Error(`payee ${k.toString(16)} gets ${leaves.get(k)}, was metered ${v}`);
      if (totals.unpayable.length) throw new Error(`unexpected unpayable ${JSON.stringify(totals.unpayable, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      buildEntitlements(leaves); // commit-ready: fits the contract
      committed = leaves;
    };
    for (const s of steps) {
      const node = s.kind === 'commit' ? undefined : nodes[s.node]!;
      if (s.kind === 'fold') {
        const payee = payeeOf(node!.spec.payoutAddress);
        if (usageLimitRejection(node!.status!.usage, ACCOUNT, payee, delta(s.units))) throw new Error('a small fold was refused');
        node!.status = { ...node!.status, usage: addUsage(node!.status!.usage, ACCOUNT, payee, delta(s.units)) };
        metered += s.units;
        const key = payeeKey(Address.parse(node!.spec.payoutAddress));
        owed.set(key, (owed.get(key) ?? 0n) + s.units);
      } else if (s.kind === 'payout') {
        node!.spec = { ...node!.spec, payoutAddress: SPELLINGS[s.spelling]!(ADDRESSES[s.address]!) };
      } else {
        check();
      }
    }
    check();
  }), { numRuns: 300 });
  t.pass();
});

test('a payout address changed after a commit receives only the units metered after the change', (t) => {
  const [a, b] = [ADDRESSES[0]!, ADDRESSES[1]!];
  const node = providerNode('n0', a.toRawString());
  node.status = { usage: addUsage(undefined, ACCOUNT, payeeOf(node.spec.payoutAddress), delta(100n)) };
  const first = payeeTotals([node], ACCOUNT).leaves;
  t.deepEqual([...first], [[payeeKey(a), 100n]]);
  node.spec.payoutAddress = b.toString();
  node.status = { usage: addUsage(node.status.usage, ACCOUNT, payeeOf(node.spec.payoutAddress), delta(30n)) };
  const second = payeeTotals([node], ACCOUNT, first);
  t.is(second.leaves.get(payeeKey(a)), 100n);
  t.is(second.leaves.get(payeeKey(b)), 30n, 'the new address is owed the 30 units metered after the change, not the host\'s 130');
  t.is(second.metered, 130n);
});

test('units a host metered before payout attribution are held back, not credited to whatever address is current', (t) => {
  const node = providerNode('n0', ADDRESSES[0]!.toRawString());
  node.status = { usage: [{ account: ACCOUNT, units: '500' }] };
  const totals = payeeTotals([node], ACCOUNT);
  t.is(totals.leaves.size, 0);
  t.is(totals.unpayable[0]?.units, 500n);
  // The next folded report attributes them, once, to the address current then.
  node.status = { usage: addUsage(node.status.usage, ACCOUNT, payeeOf(node.spec.payoutAddress), delta(5n)) };
  t.deepEqual([...payeeTotals([node], ACCOUNT).leaves], [[payeeKey(ADDRESSES[0]!), 505n]]);
});

test('a status that attributes more units than the host metered pays none of them', (t) => {
  const node = providerNode('n0', ADDRESSES[0]!.toRawString());
  node.status = { usage: [{ account: ACCOUNT, units: '10', payees: [{ payee: ADDRESSES[1]!.toRawString(), units: '1000' }] }] };
  const totals = payeeTotals([node], ACCOUNT);
  t.is(totals.leaves.size, 0);
  t.is(totals.metered, 10n);
  t.is(totals.unpayable.length, 1);
});

test('a payee whose hosts together pass uint64 is held at its committed leaf while every other payee is committed', (t) => {
  const [a, b] = [ADDRESSES[0]!, ADDRESSES[1]!];
  const big = UNITS_MAX - 10n;
  const n0 = providerNode('n0', a.toRawString());
  const n1 = providerNode('n1', a.toRawString());
  const n2 = providerNode('n2', b.toRawString());
  n0.status = { usage: addUsage(undefined, ACCOUNT, payeeOf(a.toRawString()), delta(big)) };
  n1.status = { usage: addUsage(undefined, ACCOUNT, payeeOf(a.toRawString()), delta(big)) };
  n2.status = { usage: addUsage(undefined, ACCOUNT, payeeOf(b.toRawString()), delta(7n)) };
  const committed = new Map([[payeeKey(a), 3n]]);
  const totals = payeeTotals([n0, n1, n2], ACCOUNT, committed);
  t.is(totals.leaves.get(payeeKey(a)), 3n);
  t.is(totals.leaves.get(payeeKey(b)), 7n);
  t.notThrows(() => buildEntitlements(totals.leaves));
  t.true(totals.unpayable.some((u) => u.payee === a.toRawString() && /2\^64/.test(u.reason)));
});

test('a host that has had 64 payout addresses for an account is refused a 65th (TOO_MANY_PAYEES), not an earlier one', (t) => {
  let usage: ReturnType<typeof addUsage> | undefined;
  const payee = (i: number) => new Address(0, Buffer.alloc(32, 100 + i)).toRawString();
  for (let i = 0; i < MAX_PAYEES; i++) {
    t.is(usageLimitRejection(usage, ACCOUNT, payee(i), delta(1n)), undefined);
    usage = addUsage(usage, ACCOUNT, payee(i), delta(1n));
  }
  const refused = usageLimitRejection(usage, ACCOUNT, payee(MAX_PAYEES), delta(1n));
  t.is(refused?.code, 'TOO_MANY_PAYEES');
  t.regex(refused!.message, /spec\.payoutAddress/);
  t.is(usageLimitRejection(usage, ACCOUNT, payee(3), delta(1n)), undefined);
  t.is(usageLimitRejection(usage, 'ns/other', payee(MAX_PAYEES), delta(1n)), undefined);
});
