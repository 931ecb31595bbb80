import test from 'ava';
import { KeyLine } from '../../operator/src/kube/key-line.js';

test('keys leave in the order they joined; a key already waiting keeps its place', (t) => {
  const line = new KeyLine();
  for (const k of ['a', 'b', 'c', 'a']) line.push(k);
  t.is(line.size, 3);
  t.deepEqual([line.shift(), line.shift(), line.shift(), line.shift()], ['a', 'b', 'c', undefined]);
  t.is(line.size, 0);
});

test('a key taken from the middle is skipped, and when it joins again it waits at the end', (t) => {
  const line = new KeyLine();
  for (const k of ['a', 'b', 'c']) line.push(k);
  t.true(line.delete('b'));
  t.false(line.delete('b'));
  t.false(line.has('b'));
  line.push('d');
  line.push('b');
  t.deepEqual([line.shift(), line.shift(), line.shift(), line.shift(), line.shift()], ['a', 'c', 'd', 'b', undefined]);
});

test('matches a plain array line over a long random mix of joins, takes and removals', (t) => {
  const line = new KeyLine();
  const model: string[] = [];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 50_000; step++) {
    const r = random();
    const key = `k${Math.floor(random() * 3000)}`;
    if (r < 0.5) {
      line.push(key);
      if (!model.includes(key)) model.push(key);
    } else if (r < 0.8) {
      t.is(line.shift(), model.shift(), `step ${step}`);
    } else {
      const i = model.indexOf(key);
      t.is(line.delete(key), i >= 0, `step ${step}`);
      if (i >= 0) model.splice(i, 1);
    }
    if (line.size !== model.length) t.fail(`step ${step}: size ${line.size}, expected ${model.length}`);
  }
  const rest: string[] = [];
  for (let k = line.shift(); k !== undefined; k = line.shift()) rest.push(k);
  t.deepEqual(rest, model);
});

test('stale entries are compacted away: the line holds about twice its keys at most', (t) => {
  const line = new KeyLine();
  const held = () => (line as unknown as { entries: unknown[]; head: number }).entries.length;
  // Keys join and are taken out from the middle (promoted) over and over, without one leaving the front.
  for (let i = 0; i < 100_000; i++) {
    line.push(`k${i}`);
    if (i % 10 !== 0) line.delete(`k${i}`);
  }
  t.is(line.size, 10_000);
  t.true(held() <= 2 * line.size + 1024, `${held()} entries held for ${line.size} keys`);
  // Taking from the front compacts what is behind it too.
  for (let i = 0; i < 9_000; i++) line.shift();
  t.true(held() <= 2 * line.size + 1024, `${held()} entries held for ${line.size} keys`);
  t.is(line.shift(), 'k90000');
});
