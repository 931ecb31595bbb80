import test from 'ava';
import { backoffBase, backoffDelay } from '../../operator/src/kube/backoff.js';

const policy = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0.25 };

test('the base delay doubles per attempt and stops at the cap', (t) => {
  t.deepEqual([0, 1, 2, 3, 6, 7, 100].map((a) => backoffBase(a, policy)), [100, 200, 400, 800, 6400, 10_000, 10_000]);
});

test('jitter only shortens the delay, by at most the jitter fraction', (t) => {
  for (const attempt of [0, 1, 5, 7, 50]) {
    const base = backoffBase(attempt, policy);
    t.is(backoffDelay(attempt, policy, () => 0), base);
    t.is(backoffDelay(attempt, policy, () => 0.999999), base * (1 - 0.25 * 0.999999));
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, policy);
      if (d > base || d < base * 0.75 || d > policy.maxMs) t.fail(`attempt ${attempt}: ${d} outside [${base * 0.75}, ${base}]`);
    }
  }
  t.pass();
});

test('a key that failed for days does not overflow to Infinity', (t) => {
  t.is(backoffDelay(1e9, policy, () => 0), 10_000);
});
