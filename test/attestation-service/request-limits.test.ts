// Finding: nothing bounded how many requests a caller, or anyone at all, could make. Now the TokenReviews
// sent for tokens not in the cache are bounded for all callers together (the only apiserver work an
// unauthenticated request can cause), and each authenticated caller has its own request bucket.
import test from 'ava';
import { attesterOf, fakeToken, harness } from './_fake.js';

test('a flood of distinct unknown tokens is answered 429 after the global TokenReview burst, without more TokenReviews', async (t) => {
  const h = harness({ tokenReviewsPerSecond: 1, tokenReviewBurst: 5 });
  h.behave((token) => attesterOf(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sub as string));
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await h.post('/v1/challenge', fakeToken(`gpu-${i}`))).status);
  t.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
  t.true(statuses.slice(5).every((s) => s === 429), JSON.stringify(statuses));
  t.is(h.reviews(), 5);
  const limited = await h.post('/v1/challenge', fakeToken('gpu-x'));
  t.is(limited.headers?.['retry-after'], '1');
  // The bucket refills with time.
  h.clock.ms += 2000;
  t.is((await h.post('/v1/challenge', fakeToken('gpu-y'))).status, 200);
});

test('one caller over its request budget gets 429 while another caller is still served', async (t) => {
  const h = harness({ requestsPerCallerPerSecond: 1, requestBurstPerCaller: 3 });
  const noisy = fakeToken('gpu-1');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await h.post('/v1/challenge', noisy)).status);
  t.deepEqual(statuses, [200, 200, 200, 429, 429]);
  t.is((await h.post('/v1/challenge', fakeToken('gpu-2'))).status, 200, 'another node attester has its own budget');
  h.clock.ms += 1000;
  t.is((await h.post('/v1/challenge', noisy)).status, 200, 'the budget refills');
});

test('the node attesters of different nodes, one ServiceAccount, are different callers', async (t) => {
  const h = harness({ requestsPerCallerPerSecond: 1, requestBurstPerCaller: 1 });
  for (let i = 0; i < 10; i++) t.is((await h.post('/v1/challenge', fakeToken(`gpu-${i}`))).status, 200);
});
