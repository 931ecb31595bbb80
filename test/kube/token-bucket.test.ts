import test from 'ava';
import { TokenBucket } from '../../operator/src/kube/token-bucket.js';

test('a full bucket serves the burst at once, then one token per 1/rate seconds', (t) => {
  let now = 0;
  const bucket = new TokenBucket({ ratePerSec: 10, burst: 3, now: () => now });
  t.deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0]);
  t.is(Math.round(bucket.reserve()), 100);
  t.is(Math.round(bucket.reserve()), 200);
  now = 1000; // 10 tokens refilled, minus the two borrowed, capped at burst
  t.deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0]);
  t.true(bucket.reserve() > 0);
});

test('a bucket without a positive rate is refused', (t) => {
  t.throws(() => new TokenBucket({ ratePerSec: 0, burst: 1 }));
});
