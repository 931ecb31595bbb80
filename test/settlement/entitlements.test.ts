import test from 'ava';
import fc from 'fast-check';
import { Address, beginCell, CellType } from '@ton/core';
import {
  buildEntitlements, entitlementProof, loadEpochLeaves, payeeAddress, payeeKey, saveEpochLeaves, UNITS_MAX,
} from '../../operator/src/settlement/entitlements.js';

const key = (n: number) => BigInt(n) * 0x0101010101n + 1n;
const leavesOf = (entries: Array<[number, bigint]>) => new Map(entries.map(([k, v]) => [key(k), v]));

test('the root is the hash of the dictionary root cell and the total is the sum of the leaves', (t) => {
  const e = buildEntitlements(leavesOf([[1, 10n], [2, 20n], [3, 30n]]));
  t.is(e.total, 60n);
  t.is(e.size, 3);
  const rootCell = beginCell().storeDictDirect(e.dict).endCell();
  t.is(e.root, BigInt(`0x${rootCell.hash().toString('hex')}`));
});

test('an empty entitlement set has root 0 and total 0', (t) => {
  const e = buildEntitlements(new Map());
  t.is(e.root, 0n);
  t.is(e.total, 0n);
});

test('the root does not depend on insertion order and changes with any leaf', (t) => {
  fc.assert(fc.property(
    fc.uniqueArray(fc.tuple(fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 40n })),
      { minLength: 1, maxLength: 30, selector: ([k]) => k }),
    (entries) => {
      const a = buildEntitlements(new Map(entries));
      const b = buildEntitlements(new Map([...entries].reverse()));
      const [k0, v0] = entries[0]!;
      const changed = buildEntitlements(new Map([...entries.slice(1), [k0, v0 + 1n]]));
      return a.root === b.root && a.root !== changed.root;
    },
  ), { numRuns: 50 });
  t.pass();
});

test('a proof is a Merkle proof cell whose hash field is the root and whose leaf holds the payee units', (t) => {
  const leaves = new Map<bigint, bigint>();
  for (let i = 0; i < 200; i++) leaves.set(key(i * 7919), BigInt(i * 3));
  const e = buildEntitlements(leaves);
  const payee = key(42 * 7919);
  const proof = entitlementProof(e, [payee]);
  t.is(proof.type, CellType.MerkleProof);
  const s = proof.beginParse(true);
  t.is(s.loadUint(8), 3);
  t.is(s.loadUintBig(256), e.root);
  // The proof is much smaller than the dictionary: only the path to one leaf is unpruned.
  const dictCells = countCells(beginCell().storeDictDirect(e.dict).endCell());
  t.true(countCells(proof) < dictCells / 5, `proof ${countCells(proof)} cells, dictionary ${dictCells}`);
});

function countCells(c: import('@ton/core').Cell, seen = new Set<string>()): number {
  const h = c.hash().toString('hex');
  if (seen.has(h)) return 0;
  seen.add(h);
  return 1 + c.refs.reduce((n, r) => n + countCells(r, seen), 0);
}

test('a proof is refused for a payee that has no entitlement', (t) => {
  const e = buildEntitlements(leavesOf([[1, 10n]]));
  t.throws(() => entitlementProof(e, [key(2)]), { message: /no entitlement/ });
  t.throws(() => entitlementProof(e, []), { message: /at least one payee/ });
});

test('units outside uint64 and a total outside uint64 are refused', (t) => {
  t.throws(() => buildEntitlements(leavesOf([[1, -1n]])), { instanceOf: RangeError });
  t.throws(() => buildEntitlements(leavesOf([[1, UNITS_MAX + 1n]])), { instanceOf: RangeError });
  t.throws(() => buildEntitlements(leavesOf([[1, UNITS_MAX], [2, 1n]])), { message: /total units/ });
});

test('payee keys are basechain account ids and map back to the same address', (t) => {
  const addr = new Address(0, Buffer.alloc(32, 0xab));
  const k = payeeKey(addr);
  t.is(k, BigInt(`0x${'ab'.repeat(32)}`));
  t.true(payeeAddress(k).equals(addr));
  t.throws(() => payeeKey(new Address(-1, Buffer.alloc(32, 1))), { message: /basechain/ });
});

test('saved epoch leaves load back to the same root, total and proofs', (t) => {
  const leaves = leavesOf([[5, 500n], [6, 600n], [7, 7n]]);
  const text = saveEpochLeaves(12n, leaves);
  const loaded = loadEpochLeaves(text);
  const original = buildEntitlements(leaves);
  t.is(loaded.epoch, 12n);
  t.is(loaded.root, original.root);
  t.is(loaded.total, 1107n);
  t.true(entitlementProof(loaded.entitlements, [key(6)]).equals(entitlementProof(original, [key(6)])));
});

test('loading epoch leaves that do not hash to the recorded root fails', (t) => {
  const json = JSON.parse(saveEpochLeaves(1n, leavesOf([[5, 500n]]))) as { leaves: Record<string, string> };
  const k = Object.keys(json.leaves)[0]!;
  json.leaves[k] = '501';
  t.throws(() => loadEpochLeaves(JSON.stringify({ ...json })), { message: /recorded root/ });
  t.throws(() => loadEpochLeaves('{"version":2}'), { message: /version/ });
  t.throws(() => loadEpochLeaves(JSON.stringify({ ...json, leaves: { XYZ: '1' } })), { message: /64 lowercase hex/ });
});

test('published leaves carry what each payee earned at the price, and a tampered earned amount is refused', (t) => {
  const leaves = new Map<bigint, bigint>([[5n, 500n], [7n, 3n]]);
  const text = saveEpochLeaves(3n, leaves, 2_000n);
  const loaded = loadEpochLeaves(text);
  t.is(loaded.pricePerUnitNanoton, 2_000n);
  t.deepEqual(loaded.earnedNanoton, new Map([[5n, 1_000_000n], [7n, 6_000n]]));
  const json = JSON.parse(text) as { earnedNanoton: Record<string, string> };
  const k5 = 5n.toString(16).padStart(64, '0');
  json.earnedNanoton[k5] = '1000001';
  t.throws(() => loadEpochLeaves(JSON.stringify(json)), { message: /earnedNanoton of .* is not its units × pricePerUnitNanoton/ });
  // Leaves written before pricing (no price) still load, without earned amounts.
  t.is(loadEpochLeaves(saveEpochLeaves(3n, leaves)).earnedNanoton, undefined);
});
