// A token bucket: `ratePerSec` tokens refill continuously up to `burst`. Two users: the work queue
// (an overall limit on retries across all keys, as client-go's default controller rate limiter) and the
// REST client (client-side QPS/burst on outgoing requests, the same budget kube-scheduler is given).
// The clock is injected so the arithmetic is testable without sleeping.

export interface TokenBucketOptions {
  ratePerSec: number;
  burst: number;
  /** Milliseconds from a monotonic clock (default performance.now). */
  now?: () => number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSec > 0) || !(options.burst >= 1)) {
      throw new Error(`token bucket needs ratePerSec > 0 and burst >= 1 (got ${options.ratePerSec}, ${options.burst})`);
    }
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.burst;
    this.last = this.now();
  }

  /**
   * Takes one token and returns how long the caller must wait before using it (0 when one was
   * available). Tokens may go negative: each caller reserves its own future slot, so waiters are served
   * in order and the long-run rate never exceeds ratePerSec.
   */
  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.options.burst, this.tokens + ((now - this.last) / 1000) * this.options.ratePerSec);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.options.ratePerSec) * 1000;
  }

  /** Waits for a token. */
  async acquire(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
