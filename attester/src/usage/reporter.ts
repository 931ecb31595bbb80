// Usage reporting for replicas. The inference server's Prometheus counters are turned into cumulative
// counters that only grow for the life of this attester (a server restart resets its counters; we
// detect the drop and keep counting from the new value instead of going backwards), plus GPU-seconds:
// wall time while the server answered its metrics endpoint × the GPUs assigned to the replica. Each
// report is signed with the attested key over canonicalJson(report), carries a random bootId for this
// start and a sequence that increases by one per report the service has answered.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import { canonicalJson, type SignedUsageReport, type UsageReport, type UsageResponse } from '../../../operator/src/attestation/service/protocol.js';
import { silentLogger } from '../../../operator/src/util/log.js';
import { realSleep, type Sleep } from '../backoff.js';
import { AttesterError, asAttesterError } from '../errors.js';
import type { AttesterIdentity } from '../identity.js';
import type { Transport } from '../transport.js';
import { counterTotal, parsePrometheusText } from './prometheus.js';

/** vLLM's counter names (vllm/engine/metrics.py): prompt and generated tokens since the server started. */
export const VLLM_METRICS = {
  promptTokens: 'vllm:prompt_tokens_total',
  generationTokens: 'vllm:generation_tokens_total',
} as const;

export interface TokenSample {
  promptTokens: number;
  generationTokens: number;
}

/** Scrapes `url` (Prometheus text) and returns the token counters, or throws METRICS_UNAVAILABLE. */
export function prometheusScraper(url: string, names: { promptTokens: string; generationTokens: string } = VLLM_METRICS, timeoutMs = 5_000): () => Promise<TokenSample> {
  return async () => {
    let text: string;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } catch (err) {
      throw new AttesterError('METRICS_UNAVAILABLE', `cannot scrape ${url}: ${(err as Error).message}`, { transient: true });
    }
    const parsed = parsePrometheusText(text);
    return { promptTokens: counterTotal(parsed, names.promptTokens), generationTokens: counterTotal(parsed, names.generationTokens) };
  };
}

/** One cumulative counter fed with raw server values that may reset to zero when the server restarts. */
class MonotonicCounter {
  #total = 0n;
  #lastRaw: bigint | undefined;
  observe(raw: number): void {
    const value = BigInt(Math.floor(raw));
    if (this.#lastRaw === undefined) {
      // The first scrape is the baseline: what the server counted before this attester started belongs to
      // an earlier bootId (or to the time before attestation, when the replica got no traffic).
    } else if (value >= this.#lastRaw) this.#total += value - this.#lastRaw;
    else this.#total += value; // the server restarted: its counter began again at zero
    this.#lastRaw = value;
  }
  get total(): bigint {
    return this.#total;
  }
}

/**
 * The cumulative counters since this attester started. The first scrape is only a baseline, so a
 * restarted sidecar next to a running server never bills the server's earlier tokens a second time
 * under its new bootId; in doubt we under-count, never over-count.
 */
export class UsageAccumulator {
  readonly #prompt = new MonotonicCounter();
  readonly #generation = new MonotonicCounter();
  #gpuMs = 0n;
  #lastUpAt: number | undefined;
  constructor(private readonly gpus: number) {}

  /** A scrape result at time `at` (ms); `sample` undefined means the server did not answer. */
  observe(at: number, sample: TokenSample | undefined): void {
    if (!sample) {
      this.#lastUpAt = undefined; // down: the interval until it is back is not billed
      return;
    }
    this.#prompt.observe(sample.promptTokens);
    this.#generation.observe(sample.generationTokens);
    if (this.#lastUpAt !== undefined && at > this.#lastUpAt) this.#gpuMs += BigInt(Math.round(at - this.#lastUpAt)) * BigInt(this.gpus);
    this.#lastUpAt = at;
  }

  /** Counters as the protocol carries them: decimal integers (GPU-seconds rounded down). */
  counters(): UsageReport['counters'] {
    return {
      promptTokens: this.#prompt.total.toString(),
      generationTokens: this.#generation.total.toString(),
      gpuSeconds: (this.#gpuMs / 1000n).toString(),
    };
  }
}

export interface UsageReporterOptions {
  identity: AttesterIdentity;
  namespace: string;
  pod: string;
  transport: Transport;
  scrape: () => Promise<TokenSample>;
  /** GPUs assigned to this replica. */
  gpus: number;
  intervalMs?: number;
  /** Only report while this says the key is attested (default: always). */
  isAttested?: () => boolean;
  /** Called when the service refuses a report: the CLI asks the attester to attest again. */
  onRefused?: (response: UsageResponse) => void;
  bootId?: string;
  now?: () => number;
  sleep?: Sleep;
  logger?: Logger;
}

export class UsageReporter {
  readonly bootId: string;
  readonly accumulator: UsageAccumulator;
  /** The sequence of the next report. */
  #sequence = 1;
  constructor(private readonly options: UsageReporterOptions) {
    if (!Number.isInteger(options.gpus) || options.gpus < 0) throw new AttesterError('CONFIG_INVALID', `--gpus must be a whole number ≥ 0, got ${options.gpus}`);
    this.bootId = options.bootId ?? randomUUID();
    this.accumulator = new UsageAccumulator(options.gpus);
  }

  /** Scrapes once and folds the result in; a scrape failure counts as "server down". */
  async scrape(): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    try {
      this.accumulator.observe(now, await this.options.scrape());
    } catch (err) {
      this.accumulator.observe(now, undefined);
      (this.options.logger ?? silentLogger()).warn('metrics scrape failed', { error: asAttesterError(err, 'METRICS_UNAVAILABLE').oneLine() });
    }
  }

  /** The next report, signed (does not send). */
  signedReport(): SignedUsageReport {
    const report: UsageReport = {
      namespace: this.options.namespace,
      pod: this.options.pod,
      bootId: this.bootId,
      sequence: this.#sequence,
      counters: this.accumulator.counters(),
      at: new Date((this.options.now ?? Date.now)()).toISOString(),
    };
    return { report, signature: Buffer.from(this.options.identity.sign(canonicalJson(report))).toString('hex') };
  }

  /**
   * Scrape, sign, send. The sequence advances once the service answered (accepted or refused); after a
   * network failure the next report reuses it, since the lost one may never have arrived.
   * Returns undefined when not attested (nothing is sent).
   */
  async tick(signal?: AbortSignal): Promise<{ sent: SignedUsageReport; response: UsageResponse } | undefined> {
    await this.scrape();
    if (this.options.isAttested && !this.options.isAttested()) return undefined;
    const sent = this.signedReport();
    const response = await this.options.transport.usage(sent, signal);
    this.#sequence++;
    if (!response.accepted) this.options.onRefused?.(response);
    return { sent, response };
  }

  /** Reports every intervalMs until `signal` aborts; failures are logged and retried next interval. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.options.logger ?? silentLogger();
    const sleep = this.options.sleep ?? realSleep;
    while (!signal.aborted) {
      try {
        const result = await this.tick(signal);
        if (result && !result.response.accepted) log.warn('usage report refused', { sequence: result.sent.report.sequence, reasons: result.response.reasons });
      } catch (err) {
        if (signal.aborted) return;
        log.warn('usage report not sent', { error: asAttesterError(err, 'SERVICE_UNAVAILABLE').oneLine() });
      }
      try {
        await sleep(this.options.intervalMs ?? 60_000, signal);
      } catch {
        return;
      }
    }
  }
}
