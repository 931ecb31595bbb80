// The attester: fetches a challenge, produces evidence bound to it and to the attester's key, sends it,
// and keeps the attestation fresh. It owns no process state (no env, no signals, no timers that outlive
// `run`), so the fleet simulator can run hundreds of them in one process; the CLI in main.ts wires one
// to the real TEE, NVML and HTTPS.
//
// A node attester whose GPU source has the driver's "GPUs ready" switch (NVML, the simulated NVML) also
// decides, in `run`, whether the node's GPUs take work: only while its evidence is verified
// (gpu/ready-gate.ts says when exactly). Replica attesters, `attestOnce` and `--once` never touch it.
import type { Logger } from 'winston';
import type { ChallengeResponse, EvidenceRequest, Reason, Subject } from '../../operator/src/attestation/service/protocol.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { DEFAULT_RETRY, realSleep, withRetry, type RetryPolicy, type Sleep } from './backoff.js';
import type { CpuEvidenceSource } from './cpu/source.js';
import { AttesterError } from './errors.js';
import { quarantineWithholds } from './gpu/quarantine.js';
import { GpuReadyGate, type GpusReadyStatus } from './gpu/ready-gate.js';
import type { GpuEvidenceSource } from './gpu/source.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { AttesterIdentity, parseNonce, reportDataFor } from './identity.js';
import type { Transport } from './transport.js';

export interface AttesterOptions {
  subject: Subject;
  cpu: CpuEvidenceSource;
  gpu: GpuEvidenceSource;
  transport: Transport;
  /** Defaults to a fresh in-memory key. */
  identity?: AttesterIdentity;
  /** Retry of transient failures within one attestation (default: 6 tries, 0.5 s doubling to 30 s). */
  retry?: Partial<RetryPolicy>;
  /** Re-attest this often when the service gives no expiry (default 1 h). */
  reattestIntervalMs?: number;
  /** Wait after a rejection before trying again (default 60 s): the host may be fixed meanwhile. */
  rejectedRetryMs?: number;
  /**
   * While attested, ask the service this often whether the operator has issued a new challenge (it does
   * when it wants re-attestation early, e.g. after a policy change), and answer it at once. Off by
   * default; the CLI turns it on for nodes, whose challenge endpoint only reads ProviderNode status.
   */
  challengePollMs?: number;
  now?: () => number;
  random?: () => number;
  sleep?: Sleep;
  logger?: Logger;
}

export interface AttestationOutcome {
  verified: boolean;
  reasons: Reason[];
  /** The nonce the evidence answered. */
  nonce: string;
  /** When verified and the service said so: when the attestation lapses. */
  expiresAt: Date | undefined;
}

/**
 * When to renew an attestation that lapses at `expiresAt`: at a random point between one and two margins
 * before the lapse, the margin being a tenth of the remaining lifetime and at least 30 s (never later than
 * the lapse itself), so the subject never drops out between renewals. Random, because a fixed point
 * keeps a fleet's renewals in the wave it was admitted in: 8,000 replicas placed within a minute would
 * all renew within the same minute every period, at more than the service verifies; drawn afresh each
 * time, the wave spreads over a margin (390 s of a 3,600 s interval) in the first period and stays spread.
 * `random` in [0, 1): 0 renews latest, one margin early.
 */
export function renewalDelayMs(expiresAt: Date, now: number, random: () => number = Math.random): number {
  const remaining = expiresAt.getTime() - now;
  const margin = Math.max(30_000, remaining / 10);
  return Math.max(0, remaining - margin - random() * margin);
}

export class Attester {
  readonly subject: Subject;
  readonly identity: AttesterIdentity;
  readonly #cpu: CpuEvidenceSource;
  readonly #gpu: GpuEvidenceSource;
  readonly #transport: Transport;
  readonly #retry: RetryPolicy;
  readonly #reattestIntervalMs: number;
  readonly #rejectedRetryMs: number;
  readonly #challengePollMs: number | undefined;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: Sleep;
  readonly #log: Logger;
  #last: AttestationOutcome | undefined;
  /** Node attesters with a GPU ready switch: the driver's GPUs-ready state follows the verdicts. */
  readonly #gate: GpuReadyGate | undefined;
  /** Resolves the wait in `run` early: set while `run` sleeps between attestations. */
  #wake: (() => void) | undefined;
  #wakeRequested = false;

  constructor(options: AttesterOptions) {
    this.subject = options.subject;
    this.identity = options.identity ?? AttesterIdentity.generate();
    this.#cpu = options.cpu;
    this.#gpu = options.gpu;
    this.#transport = options.transport;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#reattestIntervalMs = options.reattestIntervalMs ?? 3_600_000;
    this.#rejectedRetryMs = options.rejectedRetryMs ?? 60_000;
    this.#challengePollMs = options.challengePollMs;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? realSleep;
    this.#log = options.logger ?? silentLogger();
    const gpu = options.gpu;
    this.#gate = this.subject.kind === 'node' && gpu.setGpusReady ? new GpuReadyGate((accepting) => gpu.setGpusReady!(accepting), this.#now, this.#log) : undefined;
  }

  /**
   * The driver's GPUs-ready state as this attester last wrote it (node attesters with NVML or the
   * simulated NVML; undefined otherwise). `released` is true only while a verified attestation holds.
   */
  get gpusReady(): (GpusReadyStatus & { released: boolean }) | undefined {
    return this.#gate ? { ...this.#gate.status, released: this.#gate.released } : undefined;
  }

  /** The latest outcome, if any. */
  get lastOutcome(): AttestationOutcome | undefined {
    return this.#last;
  }

  /** Whether the latest attestation passed and has not lapsed: usage reports are only sent while true. */
  get attested(): boolean {
    const last = this.#last;
    if (!last?.verified) return false;
    return last.expiresAt === undefined || last.expiresAt.getTime() > this.#now();
  }

  /**
   * The request that answers `nonceHex`: CPU report with report_data = SHA-512(nonce ‖ publicKey) and one
   * GPU report per GPU with SHA-256("chrysalis-gpu" ‖ nonce ‖ publicKey) as SPDM nonce (gpuNonceFor). GPU evidence is collected first so a host with CC off
   * fails (GPU_CC_DISABLED) before any CPU report is made.
   */
  async buildEvidence(nonceHex: string): Promise<EvidenceRequest> {
    const nonce = parseNonce(nonceHex, 'the challenge nonce');
    const gpus = await this.#gpu.collect(gpuNonceFor(nonce, this.identity.publicKey));
    const cpu = await this.#cpu.collect(reportDataFor(nonce, this.identity.publicKey));
    return { subject: this.subject, nonce: Buffer.from(nonce).toString('hex'), publicKey: this.identity.publicKeyHex, cpu, gpus };
  }

  /**
   * One attestation: challenge → evidence → verdict, retrying transient failures (service unreachable or
   * busy, TSM raced) with jittered exponential backoff, each retry with a fresh challenge. A rejection is
   * an outcome, not an error; an unusable setup throws AttesterError.
   */
  async attestOnce(signal?: AbortSignal, retry: Partial<RetryPolicy> = {}, firstChallenge?: ChallengeResponse): Promise<AttestationOutcome> {
    const policy = { ...this.#retry, ...retry };
    const outcome = await withRetry(
      async (n) => {
        await this.#gate?.sync();
        // A challenge found by polling answers the first try; every retry fetches a fresh one.
        const challenge = n === 1 && firstChallenge ? firstChallenge : await this.#transport.challenge({ subject: this.subject }, signal);
        const request = await this.buildEvidence(challenge.nonce);
        const verdict = await this.#transport.evidence(request, signal);
        const expiresAt = verdict.verified && verdict.expiresAt ? new Date(verdict.expiresAt) : undefined;
        if (expiresAt && Number.isNaN(expiresAt.getTime())) {
          throw new AttesterError('SERVICE_ERROR', `the service's expiresAt "${verdict.expiresAt}" is not a date`);
        }
        return { verified: verdict.verified, reasons: verdict.reasons, nonce: request.nonce, expiresAt };
      },
      policy,
      {
        sleep: this.#sleepWatchingLapse,
        random: this.#random,
        ...(signal ? { signal } : {}),
        onRetry: (err, n, ms) => this.#log.warn('attestation attempt failed, retrying', { code: err.code, error: err.message, retry: n, delayMs: ms }),
      },
    );
    this.#last = outcome;
    if (outcome.verified) this.#log.info('attested', { expiresAt: outcome.expiresAt?.toISOString() });
    else this.#log.warn('attestation rejected', { reasons: outcome.reasons });
    return outcome;
  }

  /** Asks a running `run` loop to attest again now (the operator asked, the usage report was refused, SIGHUP). */
  requestReattest(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }

  /**
   * Attests until `signal` aborts: renews before the attestation lapses (or every reattestIntervalMs),
   * retries rejections after rejectedRetryMs and transient failures forever with backoff. Throws only
   * for a setup that cannot work (non-transient AttesterError) — the process should exit and say why.
   * A node attester with a GPU ready switch withholds the GPUs first, releases them on each verified
   * answer and withholds them on a rejection, a lapse and on leaving (gpu/ready-gate.ts).
   */
  async run(signal: AbortSignal, onOutcome?: (outcome: AttestationOutcome) => void): Promise<void> {
    const gate = this.#gate;
    await gate?.withhold('the attester started; no verdict yet');
    try {
      await this.#loop(signal, onOutcome);
    } finally {
      await gate?.withhold('the attester stopped; nothing renews the attestation');
    }
  }

  async #loop(signal: AbortSignal, onOutcome?: (outcome: AttestationOutcome) => void): Promise<void> {
    const gate = this.#gate;
    let polled: ChallengeResponse | undefined;
    while (!signal.aborted) {
      this.#wakeRequested = false;
      let waitMs: number;
      let verifiedNonce: string | undefined;
      try {
        const outcome = await this.attestOnce(signal, { maxAttempts: Infinity }, polled);
        polled = undefined;
        if (gate) await this.#followVerdict(gate, outcome);
        onOutcome?.(outcome);
        if (outcome.verified) verifiedNonce = outcome.nonce;
        waitMs = !outcome.verified
          ? this.#rejectedRetryMs
          : outcome.expiresAt
            ? Math.min(this.#reattestIntervalMs, renewalDelayMs(outcome.expiresAt, this.#now(), this.#random))
            : this.#reattestIntervalMs;
      } catch (err) {
        if (signal.aborted) return;
        // GPU CC off is the host's state, not a broken setup: say so and look again later.
        if (err instanceof AttesterError && err.code === 'GPU_CC_DISABLED') {
          this.#log.error(err.oneLine());
          await gate?.withhold(`GPU confidential computing is not on: ${err.message}`);
          waitMs = this.#rejectedRetryMs;
        } else {
          throw err;
        }
      }
      if (this.#wakeRequested) continue;
      if (verifiedNonce !== undefined && this.#challengePollMs) polled = await this.#pollForChallenge(waitMs, verifiedNonce, signal);
      else await this.#waitOrWake(waitMs, signal);
    }
  }

  /** The GPUs follow the service's answer: released until its expiresAt when verified, withheld otherwise. */
  async #followVerdict(gate: GpuReadyGate, outcome: AttestationOutcome): Promise<void> {
    if (!outcome.verified) {
      const codes = [...new Set(outcome.reasons.map((r) => r.code))].join(', ') || 'no reason given';
      await gate.withhold(`the attestation service rejected the node's evidence (${codes})`);
    } else if (!outcome.expiresAt) {
      // A release with no end would outlive any renewal that fails; the service always sends one.
      await gate.withhold('the attestation service answered verified without an expiresAt; GPUs are released only until a known time');
    } else {
      await gate.release(outcome.expiresAt, `the attestation service verified the node's evidence (nonce ${outcome.nonce.slice(0, 16)}…)`);
    }
  }

  /**
   * #sleep, except that when a released attestation lapses during the sleep the GPUs are withheld at
   * that moment, not when the sleep (a backoff of up to 30 s, a renewal wait) ends.
   */
  readonly #sleepWatchingLapse: Sleep = async (ms, signal) => {
    const lapseIn = this.#gate?.msUntilLapse();
    if (lapseIn === undefined || lapseIn >= ms) {
      await this.#sleep(ms, signal);
      return;
    }
    await this.#sleep(lapseIn, signal);
    await this.#gate!.sync();
    await this.#sleep(ms - lapseIn, signal);
  };

  /**
   * Waits up to `totalMs`, asking every challengePollMs whether the service has a challenge other than
   * the one just answered. Returns it if so; undefined when the wait ended (renewal due, woken, aborted).
   */
  async #pollForChallenge(totalMs: number, answered: string, signal: AbortSignal): Promise<ChallengeResponse | undefined> {
    const until = this.#now() + totalMs;
    for (;;) {
      const left = until - this.#now();
      if (left <= 0 || signal.aborted || this.#wakeRequested) return undefined;
      await this.#waitOrWake(Math.min(this.#challengePollMs!, left), signal);
      await this.#gate?.sync();
      if (signal.aborted || this.#wakeRequested || this.#now() >= until) return undefined;
      await this.#followStanding(signal);
      try {
        const challenge = await this.#transport.challenge({ subject: this.subject }, signal);
        if (challenge.nonce !== answered) {
          this.#log.info('the operator issued a new challenge; re-attesting');
          return challenge;
        }
      } catch (err) {
        // "No challenge pending" (503) is the usual answer while attested; only other failures are worth a line.
        if (!(err instanceof AttesterError && err.transient)) this.#log.warn('challenge poll failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /**
   * While the GPUs are released: asks the service for the node's standing and withholds them when the
   * operator quarantined the node after its last verified evidence (gpu/quarantine.ts). Nothing here
   * releases: only a fresh verified answer does (#followVerdict).
   */
  async #followStanding(signal: AbortSignal): Promise<void> {
    const gate = this.#gate;
    if (!gate?.released || !this.#transport.standing) return;
    try {
      const why = quarantineWithholds(await this.#transport.standing({ subject: this.subject }, signal));
      if (why) await gate.withhold(why);
    } catch (err) {
      if (!(err instanceof AttesterError && err.transient)) this.#log.warn('standing poll failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  async #waitOrWake(ms: number, signal: AbortSignal): Promise<void> {
    const local = new AbortController();
    const onAbort = () => local.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#wake = () => local.abort();
    try {
      await this.#sleepWatchingLapse(ms, local.signal);
    } catch {
      // Woken or aborted: the loop condition decides which.
    } finally {
      this.#wake = undefined;
      signal.removeEventListener('abort', onAbort);
    }
  }
}
