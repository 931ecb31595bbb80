// Usage reporting for replicas. The token counters are the terminator's own (token-counter.ts, fed by
// openai-usage.ts from the responses the RA-TLS gateway forwarded to clients): cumulative from zero since
// this attester started, never read from the inference server's /metrics. GPU-seconds are wall time while
// the replica is attested × the GPUs assigned to it. Each report is signed with the attested key over
// canonicalJson(report), carries a random bootId for this start (the counters belong to it) and a
// sequence that increases by one per report the service has answered.
//
// An idle replica stays quiet. While no token has been served since the last accepted report, the next
// report waits until that one is `idleReportMs` old (default ten minutes) instead of going out every
// interval: each report costs the operator a host status write, and a fleet at rest would otherwise pay
// that once a minute per replica for a cursor that only moves its GPU-seconds. Nothing is lost, since
// the counters are cumulative (the next report carries the GPU-seconds too), and a replica that has
// tokens to report is no longer queued behind idle ones when the service defers reports.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import { canonicalJson, type SignedUsageReport, type UsageReport, type UsageResponse } from '../../../operator/src/attestation/service/protocol.js';
import { silentLogger } from '../../../operator/src/util/log.js';
import { realSleep, withRetry, type RetryPolicy, type Sleep } from '../backoff.js';
import { AttesterError, asAttesterError } from '../errors.js';
import type { AttesterIdentity } from '../identity.js';
import type { Transport } from '../transport.js';
import type { TokenTotals } from './token-counter.js';

/**
 * The last report's retries: a second, then doubling, until its deadline (finalReport). Not jittered:
 * these pauses are short and bounded, and the interval reports that spread a fleet's load are over.
 */
const FINAL_REPORT_RETRY: RetryPolicy = { initialMs: 1000, maxMs: 8000, maxAttempts: Infinity, jitter: 0 };

/** The longest an idle replica goes without a report (the attester's --idle-report-interval). */
export const DEFAULT_IDLE_REPORT_MS = 600_000;

/** Where the reporter reads the cumulative token totals (a TokenCounter). */
export interface TokenSource {
  snapshot(): Pick<TokenTotals, 'promptTokens' | 'completionTokens'> & Partial<Pick<TokenTotals, 'cachedPromptTokens'>>;
}

/**
 * GPU-seconds: the wall time between consecutive observations that both found the replica attested, times
 * its GPUs. Time while not attested is not counted (no report can be sent for it anyway).
 */
export class GpuClock {
  #gpuMs = 0n;
  #lastAttestedAt: number | undefined;
  constructor(private readonly gpus: number) {}

  observe(at: number, attested: boolean): void {
    if (!attested) {
      this.#lastAttestedAt = undefined;
      return;
    }
    if (this.#lastAttestedAt !== undefined && at > this.#lastAttestedAt) this.#gpuMs += BigInt(Math.round(at - this.#lastAttestedAt)) * BigInt(this.gpus);
    this.#lastAttestedAt = at;
  }

  /** Whole GPU-seconds, rounded down. */
  get gpuSeconds(): bigint {
    return this.#gpuMs / 1000n;
  }
}

/** Counters as the protocol carries them: decimal integers. */
export function reportCounters(tokens: ReturnType<TokenSource['snapshot']>, gpuSeconds: bigint): UsageReport['counters'] {
  const cached = tokens.cachedPromptTokens ?? 0n;
  for (const [name, v] of [['promptTokens', tokens.promptTokens], ['completionTokens', tokens.completionTokens], ['cachedPromptTokens', cached]] as const) {
    if (typeof v !== 'bigint' || v < 0n) throw new AttesterError('CONFIG_INVALID', `token counter ${name} is ${String(v)}, not a whole number ≥ 0`);
  }
  return {
    promptTokens: tokens.promptTokens.toString(),
    generationTokens: tokens.completionTokens.toString(),
    gpuSeconds: gpuSeconds.toString(),
    cachedPromptTokens: cached.toString(),
  };
}

export interface UsageReporterOptions {
  identity: AttesterIdentity;
  namespace: string;
  pod: string;
  transport: Transport;
  /** The cumulative token counters of this attester (the gateway's TokenCounter). */
  tokens: TokenSource;
  /** GPUs assigned to this replica. */
  gpus: number;
  intervalMs?: number;
  /**
   * While the token counters have not moved since the last accepted report, report only once that one is
   * this old (default DEFAULT_IDLE_REPORT_MS; 0 reports every interval). A first report of this boot and
   * the final one always go.
   */
  idleReportMs?: number;
  /** Only report while this says the key is attested (default: always). */
  isAttested?: () => boolean;
  /** Called when the service refuses a report: the CLI asks the attester to attest again. */
  onRefused?: (response: UsageResponse) => void;
  bootId?: string;
  now?: () => number;
  sleep?: Sleep;
  logger?: Logger;
}

/**
 * Whether a refused report is one the replica's attesting again may mend. Not when the refusal is that
 * its host is not attested: the service refuses a replica on such a host and revokes its key, so a
 * re-attestation then only costs two host writes and the key, while the host's own re-check is what
 * the reports wait for (they are cumulative: the next accepted one carries what was refused).
 */
export function reattestationMayHelp(response: UsageResponse): boolean {
  return !response.reasons.some((r) => r.code === 'HOST_NOT_ATTESTED');
}

export class UsageReporter {
  readonly bootId: string;
  readonly gpuClock: GpuClock;
  /** The sequence of the next report. */
  #sequence = 1;
  /** The token counters of the last report the service accepted, and when it was signed. */
  #lastAccepted: { tokens: string; at: number } | undefined;
  constructor(private readonly options: UsageReporterOptions) {
    if (!Number.isInteger(options.gpus) || options.gpus < 0) throw new AttesterError('CONFIG_INVALID', `--gpus must be a whole number ≥ 0, got ${options.gpus}`);
    const idle = options.idleReportMs;
    if (idle !== undefined && !(Number.isInteger(idle) && idle >= 0)) throw new AttesterError('CONFIG_INVALID', `--idle-report-interval must be a whole number of seconds ≥ 0, got ${idle / 1000}`);
    this.bootId = options.bootId ?? randomUUID();
    this.gpuClock = new GpuClock(options.gpus);
  }

  /** A report of these counters, signed with the attested key (does not send). */
  #sign(counters: UsageReport['counters'], at: number): SignedUsageReport {
    const report: UsageReport = {
      namespace: this.options.namespace,
      pod: this.options.pod,
      bootId: this.bootId,
      sequence: this.#sequence,
      counters,
      at: new Date(at).toISOString(),
    };
    return { report, signature: Buffer.from(this.options.identity.sign(canonicalJson(report))).toString('hex') };
  }

  /**
   * Read the counters, sign, send. The sequence advances once the service answered (accepted or refused); after a
   * network failure the next report reuses it, since the lost one may never have arrived.
   * Returns undefined when nothing is sent: not attested, or idle (no token since the last accepted
   * report, which is younger than idleReportMs) unless `always`.
   */
  async tick(signal?: AbortSignal, always = false): Promise<{ sent: SignedUsageReport; response: UsageResponse } | undefined> {
    const now = (this.options.now ?? Date.now)();
    const attested = !this.options.isAttested || this.options.isAttested();
    this.gpuClock.observe(now, attested);
    if (!attested) return undefined;
    const counters = reportCounters(this.options.tokens.snapshot(), this.gpuClock.gpuSeconds);
    const tokens = tokenKey(counters);
    const idleMs = this.options.idleReportMs ?? DEFAULT_IDLE_REPORT_MS;
    if (!always && this.#lastAccepted?.tokens === tokens && now - this.#lastAccepted.at < idleMs) return undefined;
    const sent = this.#sign(counters, now);
    const response = await this.options.transport.usage(sent, signal);
    this.#sequence++;
    if (response.accepted) this.#lastAccepted = { tokens, at: now };
    else this.options.onRefused?.(response);
    return { sent, response };
  }

  /**
   * One last report when the sidecar stops (SIGTERM, after the gateway closed): without it the tokens
   * counted since the last answered report leave with the process, since only a later report of this
   * boot could carry them. A busy (429) or unreachable service is tried again, a second apart and then
   * longer, until `deadlineMs` has passed (default 10 s, well inside a Pod's 30 s grace period).
   * Returns whether the service accepted it; false also when the key is not attested (nothing is sent).
   */
  async finalReport(deadlineMs = 10_000): Promise<boolean> {
    const log = this.options.logger ?? silentLogger();
    const sleep = this.options.sleep ?? realSleep;
    const now = this.options.now ?? Date.now;
    const deadline = now() + deadlineMs;
    let failure: AttesterError | undefined;
    try {
      const result = await withRetry(() => this.tick(AbortSignal.timeout(Math.max(1, deadline - now())), true), FINAL_REPORT_RETRY, {
        onRetry: (err) => { failure = err; },
        // The pause ends at the deadline; a failure at the deadline is the last (it is what is logged).
        sleep: async (ms) => {
          const left = deadline - now();
          if (left <= 0) throw failure;
          await sleep(Math.min(ms, left));
        },
      });
      if (!result) return false;
      if (!result.response.accepted) log.warn('final usage report refused', { sequence: result.sent.report.sequence, reasons: result.response.reasons });
      return result.response.accepted;
    } catch (err) {
      log.warn('final usage report not sent; the tokens since the last answered report are not metered', { error: asAttesterError(err, 'SERVICE_UNAVAILABLE').oneLine() });
      return false;
    }
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

/** The token counters of a report, GPU-seconds left out: what decides whether a replica is idle. */
function tokenKey(c: UsageReport['counters']): string {
  return `${c.promptTokens}/${c.generationTokens}/${c.cachedPromptTokens ?? '0'}`;
}
