// shareStrings swaps strings for V8's shared copies in place: every value must stay equal, whatever the
// string (keys V8 treats specially among them: array indices, __proto__, the empty string).
import test from 'ava';
import { shared, shareStrings } from '../../operator/src/kube/shared-string.js';

const odd = ['', '0', '1', '4294967295', '-1', '1.5', '__proto__', 'constructor', 'toString', 'ünïcødé ✓', 'x'.repeat(5000)];

test('shared gives back an equal string for any string', (t) => {
  for (const s of odd) t.is(shared(s), s);
});

test('shareStrings keeps every value of nested objects and arrays, and leaves other types alone', (t) => {
  const value = { a: odd, b: { c: [{ d: 'text', e: 1, f: null, g: true }], h: odd.map((s) => ({ [s]: s })) }, i: undefined };
  const copy = structuredClone(value);
  t.is(shareStrings(value), value);
  t.deepEqual(value, copy);
  t.deepEqual(shareStrings(['a', ['b', null]]), ['a', ['b', null]]);
  t.is(shareStrings(null), null);
});
