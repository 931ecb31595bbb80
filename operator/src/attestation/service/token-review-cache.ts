// Authentication with a memory: a TokenReview's answer is kept for the token's lifetime, capped at
// POSITIVE_TTL_MS, so an attester that calls every few seconds costs the apiserver one review per token
// per two minutes rather than one per request. The cap is what the apiserver's own webhook token cache
// uses by default (2 minutes): a bound token whose Pod was deleted stops working within it.
//
// Before any TokenReview, a token must look like a JWT for this audience that has not expired (read
// without checking its signature: that only saves the apiserver work, it grants nothing), and a global
// token bucket bounds the reviews sent for tokens not in the cache — the only expensive thing an
// unauthenticated request can cause. Refusals are cached briefly (NEGATIVE_TTL_MS) so one bad token
// repeated does not cost a review each time; errors (apiserver unreachable) are not cached at all.
// Entries are keyed by SHA-256 of the token, never the token itself, and the cache is bounded.
import { createHash } from 'node:crypto';
import { AuthError, type CallerIdentity } from './caller-identity.js';
import { ATTESTATION_AUDIENCE } from './protocol.js';
import { TokenBucket } from './rate-limit.js';

export const POSITIVE_TTL_MS = 120_000;
export const NEGATIVE_TTL_MS = 5_000;
/** Kubernetes ServiceAccount tokens are about 1 KiB; anything far larger is not one. */
export const MAX_TOKEN_LENGTH = 8192;

/** Refused for load, not for identity: 429 with Retry-After. */
export class RateLimited extends Error {
  constructor(message: string, readonly retryAfterMs: number) {
    super(message);
  }
}

export interface TokenReviewCacheOptions {
  review: (token: string) => Promise<CallerIdentity>;
  reviewsPerSecond: number;
  reviewBurst: number;
  now: () => number;
  maxEntries?: number;
}

type Entry = { until: number; identity: CallerIdentity } | { until: number; error: AuthError };

export class TokenReviewCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<CallerIdentity>>();
  private readonly bucket: TokenBucket;
  private readonly maxEntries: number;
  /** TokenReviews sent (for tests and metrics). */
  reviews = 0;

  constructor(private readonly options: TokenReviewCacheOptions) {
    this.bucket = new TokenBucket(options.reviewsPerSecond, options.reviewBurst, options.now());
    this.maxEntries = options.maxEntries ?? 20_000;
  }

  async authenticate(token: string): Promise<CallerIdentity> {
    const now = this.options.now();
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.entries.get(key);
    if (hit && hit.until > now) {
      if ('error' in hit) throw hit.error;
      return hit.identity;
    }
    if (hit) this.entries.delete(key);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const claims = precheck(token, now);
    const taken = this.bucket.take(now);
    if (!taken.ok) throw new RateLimited('too many unauthenticated requests; retry later', taken.retryAfterMs);
    const review = this.review(key, token, claims.exp);
    this.inFlight.set(key, review);
    try {
      return await review;
    } finally {
      this.inFlight.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private async review(key: string, token: string, exp: number | undefined): Promise<CallerIdentity> {
    this.reviews++;
    try {
      const identity = await this.options.review(token);
      const now = this.options.now();
      const until = Math.min(now + POSITIVE_TTL_MS, exp !== undefined ? exp * 1000 : now + POSITIVE_TTL_MS);
      if (until > now) this.remember(key, { until, identity });
      return identity;
    } catch (err) {
      if (err instanceof AuthError) this.remember(key, { until: this.options.now() + NEGATIVE_TTL_MS, error: err });
      throw err;
    }
  }

  private remember(key: string, entry: Entry): void {
    if (this.entries.size >= this.maxEntries) {
      const now = this.options.now();
      for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
      while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    }
    this.entries.set(key, entry);
  }
}

/**
 * The cheap refusals: not a JWT, too long, not for this audience, expired. The claims are read without
 * checking the signature, so they only decide what is not worth a TokenReview and how long at most a
 * positive answer is cached; the apiserver decides who the caller is.
 */
function precheck(token: string, nowMs: number): { exp?: number } {
  if (token.length > MAX_TOKEN_LENGTH) throw new AuthError(401, `token is longer than ${MAX_TOKEN_LENGTH} characters; use a ServiceAccount token`);
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) throw new AuthError(401, 'token is not a ServiceAccount token (a JWT)');
  let claims: { aud?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { aud?: unknown; exp?: unknown };
  } catch {
    throw new AuthError(401, 'token is not a ServiceAccount token (its claims are not JSON)');
  }
  if (typeof claims !== 'object' || claims === null) throw new AuthError(401, 'token is not a ServiceAccount token (its claims are not an object)');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(ATTESTATION_AUDIENCE)) throw new AuthError(401, `token audience must include ${ATTESTATION_AUDIENCE}`);
  const exp = typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : undefined;
  if (exp !== undefined && exp * 1000 <= nowMs) throw new AuthError(401, 'token has expired');
  return exp !== undefined ? { exp } : {};
}
