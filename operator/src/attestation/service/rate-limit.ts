// Token buckets for the attestation service: one global bucket for the TokenReviews sent for tokens not
// in the cache (the work any unauthenticated request can cause), and one bucket per authenticated caller
// (a node attester, a replica Pod). Time is a parameter, so tests move it by hand.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly ratePerSecond: number, private readonly burst: number, nowMs: number) {
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Takes one token if there is one; otherwise how many milliseconds until there will be. */
  take(nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000) };
  }

  /** True when the bucket is back to its burst, so forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.burst;
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.last) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerSecond);
    this.last = Math.max(this.last, nowMs);
  }
}

/**
 * One bucket per key, at most `maxKeys` of them: when full, buckets that have refilled are forgotten
 * first, then the least recently used. Keys are authenticated identities, so an attacker cannot mint
 * them faster than the global TokenReview bound lets it.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly ratePerSecond: number, private readonly burst: number, private readonly maxKeys = 50_000) {}

  take(key: string, nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key);
    else {
      if (this.buckets.size >= this.maxKeys) this.evict(nowMs);
      bucket = new TokenBucket(this.ratePerSecond, this.burst, nowMs);
    }
    this.buckets.set(key, bucket); // most recently used last
    return bucket.take(nowMs);
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(nowMs: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(nowMs)) this.buckets.delete(key);
    while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}
