// Finding: every request cost a TokenReview, before any rate limit. A TokenReview's answer is now kept
// for the token's lifetime (capped at two minutes, so a token whose Pod is gone stops working soon),
// refusals only briefly, apiserver errors not at all; the cache is bounded and keyed by a hash.
import test from 'ava';
import { NEGATIVE_TTL_MS, POSITIVE_TTL_MS, TokenReviewCache } from '../../operator/src/attestation/service/token-review-cache.js';
import { attesterOf, AuthError, fakeToken, harness, START } from './_fake.js';

test('an attester repeating its token costs one TokenReview per cache lifetime, not one per request', async (t) => {
  const h = harness();
  const token = fakeToken('gpu-1');
  for (let i = 0; i < 10; i++) t.is((await h.post('/v1/challenge', token)).status, 200);
  t.is(h.reviews(), 1);
  h.clock.ms += POSITIVE_TTL_MS + 1;
  t.is((await h.post('/v1/challenge', token)).status, 200);
  t.is(h.reviews(), 2, 'reviewed again once the cached answer lapsed');
});

test('a cached answer does not outlive the token\'s own expiry', async (t) => {
  const h = harness();
  const token = fakeToken('gpu-1', START.getTime() / 1000 + 30);
  t.is((await h.post('/v1/challenge', token)).status, 200);
  h.clock.ms += 31_000;
  const r = await h.post('/v1/challenge', token);
  t.is(r.status, 401, JSON.stringify(r.body));
  t.is(h.reviews(), 1, 'an expired token is refused without asking the apiserver');
});

test('a refused token is remembered only briefly, and an apiserver failure not at all', async (t) => {
  const h = harness();
  h.behave(() => new AuthError(401, 'token rejected by the apiserver'));
  const token = fakeToken('gpu-1');
  t.is((await h.post('/v1/challenge', token)).status, 401);
  t.is((await h.post('/v1/challenge', token)).status, 401);
  t.is(h.reviews(), 1, 'the refusal was remembered');
  h.clock.ms += NEGATIVE_TTL_MS + 1;
  h.behave(() => new Error('apiserver unreachable'));
  t.is((await h.post('/v1/challenge', token)).status, 503);
  h.behave(() => attesterOf('gpu-1'));
  t.is((await h.post('/v1/challenge', token)).status, 200, 'the failure was not cached: the next request is reviewed and passes');
  t.is(h.reviews(), 3);
});

test('tokens that are not this audience\'s unexpired JWTs are refused without a TokenReview', async (t) => {
  const h = harness();
  for (const token of ['not-a-jwt', 'a.b', fakeToken('gpu-1', undefined, ['kubernetes']), fakeToken('gpu-1', START.getTime() / 1000 - 1), `${'a'.repeat(9000)}.b.c`]) {
    const r = await h.post('/v1/challenge', token);
    t.is(r.status, 401, `${token.slice(0, 40)}: ${JSON.stringify(r.body)}`);
  }
  t.is((await h.service.handle('POST', '/v1/challenge', {}, {})).status, 401, 'no Authorization header');
  t.is(h.reviews(), 0);
});

test('the cache holds at most its bound of tokens and keys them by hash, not by the token', async (t) => {
  const now = START.getTime();
  const cache = new TokenReviewCache({ review: async () => attesterOf('gpu-1'), reviewsPerSecond: 1000, reviewBurst: 1000, now: () => now, maxEntries: 3 });
  const tokens = Array.from({ length: 10 }, () => fakeToken('gpu-1'));
  for (const token of tokens) await cache.authenticate(token);
  t.is(cache.size, 3);
  const keys = [...(cache as unknown as { entries: Map<string, unknown> }).entries.keys()];
  t.true(keys.every((k) => /^[0-9a-f]{64}$/.test(k) && !tokens.includes(k)));
});

test('concurrent requests with one new token share a single TokenReview', async (t) => {
  const h = harness();
  const token = fakeToken('gpu-1');
  const answers = await Promise.all(Array.from({ length: 5 }, () => h.post('/v1/challenge', token)));
  t.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
  t.is(h.reviews(), 1);
});
