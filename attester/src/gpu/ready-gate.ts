// The node's GPUs take new work only while the node is attested. A driver in confidential-computing mode
// starts with NVML's "GPUs ready" state FALSE (NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE) and accepts new
// work only once it is set TRUE; NVIDIA leaves that to whoever checked the evidence. The node attester
// (Attester.run) writes it through this gate:
//   TRUE   only after the attestation service answered `verified` for this node's evidence, until the
//          expiresAt of that answer;
//   FALSE  at start, before any verdict; after a rejected answer; when GPU CC mode is found off; when the
//          verified attestation lapses without a fresh verified answer; when the attester stops.
//
// Quarantine: two of its three causes reach the attester through its own verdicts, before the operator
// acts: a rejected re-attestation (ReattestationFailed) withholds at the first rejected answer, and an
// attestation that expired (AttestationExpired) withholds at its expiresAt, before the quarantine grace.
// The third (GpuStateChanged: the Node advertises another GPU count than attested) the attester reads
// from the service's /v1/standing while the GPUs are released, and withholds them when the quarantine
// came after the last verified evidence; only a fresh verified answer releases them again
// (gpu/quarantine.ts, Attester's challenge poll).
//
// A write that fails, or that NVML does not then report back, is never "ready": the state is `failed`,
// logged as an error with NVML's message, retried at the next check, and `released` stays false.
import type { Logger } from 'winston';

export type GpusReadyState = 'unset' | 'withheld' | 'released' | 'failed';

export interface GpusReadyStatus {
  /**
   * unset: nothing written yet; withheld: the driver reports FALSE; released: the driver reports TRUE
   * (see GpuReadyGate.released for whether the attestation still holds); failed: the last write failed,
   * so the driver's state is unknown and counted as not ready.
   */
  state: GpusReadyState;
  /** Why the attester wants this state: a verdict, a lapse, the start, the stop. */
  reason: string;
  since: Date;
  /** Released (or failed while releasing): when the attestation lapses and the GPUs are withheld unless renewed. */
  until?: Date;
  /** Failed: the value that could not be written, and NVML's error in one line. */
  wanted?: boolean;
  error?: string;
}

/** Writes the driver's state and resolves only once the driver reports it (GpuEvidenceSource.setGpusReady). */
export type GpusReadyWriter = (accepting: boolean) => Promise<void>;

const oneLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');

export class GpuReadyGate {
  readonly #write: GpusReadyWriter;
  readonly #now: () => number;
  readonly #log: Logger;
  #status: GpusReadyStatus;

  constructor(write: GpusReadyWriter, now: () => number, log: Logger) {
    this.#write = write;
    this.#now = now;
    this.#log = log;
    this.#status = { state: 'unset', reason: 'no verdict yet', since: new Date(now()) };
  }

  get status(): GpusReadyStatus {
    return { ...this.#status };
  }

  /** True only when the driver confirmed TRUE and the attestation it rests on has not lapsed. */
  get released(): boolean {
    const s = this.#status;
    return s.state === 'released' && s.until !== undefined && s.until.getTime() > this.#now();
  }

  /** Milliseconds until a released attestation lapses (0 when it already has); undefined when not released. */
  msUntilLapse(): number | undefined {
    const s = this.#status;
    return s.state === 'released' && s.until ? Math.max(0, s.until.getTime() - this.#now()) : undefined;
  }

  /** After a verified answer: GPUs accept work until `until`. A failed write leaves them withheld if possible. */
  async release(until: Date, reason: string): Promise<void> {
    if (until.getTime() <= this.#now()) {
      await this.withhold(`${reason}, but that attestation lapsed at ${until.toISOString()} before the GPUs could be released`);
      return;
    }
    try {
      await this.#write(true);
    } catch (err) {
      // The driver's state is unknown now: try to leave it FALSE; either way the gate reports the failure.
      let error = oneLine(err);
      try {
        await this.#write(false);
      } catch (second) {
        error += `; withholding them failed too: ${oneLine(second)}`;
      }
      this.#status = { state: 'failed', reason, since: new Date(this.#now()), until, wanted: true, error };
      this.#log.error('the GPUs could not be released to take work; they are not counted as ready', { reason, error });
      return;
    }
    const renewed = this.#status.state === 'released';
    this.#status = { state: 'released', reason, since: renewed ? this.#status.since : new Date(this.#now()), until };
    this.#log.info(renewed ? 'GPUs stay released to take work' : 'GPUs released to take work (NVML ready state TRUE)', { reason, until: until.toISOString() });
  }

  /** GPUs accept no new work: at start, after a rejection, on a lapse, on stop. */
  async withhold(reason: string): Promise<void> {
    const was = this.#status.state;
    const wasReason = this.#status.reason;
    try {
      await this.#write(false);
    } catch (err) {
      const error = oneLine(err);
      this.#status = { state: 'failed', reason, since: new Date(this.#now()), wanted: false, error };
      this.#log.error('the GPUs could not be withheld from work (NVML ready state FALSE not confirmed); they are not counted as ready', { reason, error });
      return;
    }
    this.#status = { state: 'withheld', reason, since: was === 'withheld' ? this.#status.since : new Date(this.#now()) };
    if (was === 'released') this.#log.warn('GPUs withheld from work (NVML ready state FALSE)', { reason });
    else if (was !== 'withheld') this.#log.info('GPUs withheld from work until the node is attested (NVML ready state FALSE)', { reason });
    else if (reason !== wasReason) this.#log.info('GPUs stay withheld from work', { reason });
  }

  /**
   * The check the attester runs at every step of its loop: withholds a released attestation that has
   * lapsed, and writes again what the last failed write wanted (released only while its attestation holds).
   */
  async sync(): Promise<void> {
    const s = this.#status;
    const lapsed = s.until !== undefined && s.until.getTime() <= this.#now();
    if (s.state === 'released' && lapsed) {
      await this.withhold(`the attestation lapsed at ${s.until!.toISOString()} without a fresh verified answer`);
    } else if (s.state === 'failed') {
      if (s.wanted && !lapsed) await this.release(s.until!, s.reason);
      else await this.withhold(s.wanted ? `the attestation lapsed at ${s.until!.toISOString()} without a fresh verified answer` : s.reason);
    }
  }
}
