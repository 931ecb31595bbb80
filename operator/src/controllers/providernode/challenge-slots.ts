// How many challenges the ProviderNode controller keeps outstanding at once.
//
// Why a bound: a challenge is worth issuing only as fast as the attestation service can verify the
// answers. At a fleet's cold start the controller can write 2,000 challenges in seconds while the service
// verifies about 150 answers a second, so without a bound every node waits in the verifier's queue and
// the last one waits for all the others (p99 challenge→Attested 30–47 s at 2,000 nodes, measured by
// `npm run bench -- admission`). With a bound, a node is challenged when its answer can be verified soon,
// and the ones not challenged yet wait here, in the order they asked, instead of in the verifier.
//
// Three rules keep the bound from doing harm:
//  - A slot is held from the challenge until the node's next verdict, but at most `holdMs`: a dead or
//    slow attester gives its slot back after that, though its challenge stays valid for its whole TTL
//    (an answer that arrives later is still verified). So dead attesters cannot hold all the slots.
//  - Each kind has a reserved share: first admissions and re-attestations of verified nodes may each hold
//    at most `limit - reservePerKind` slots, so a cold start of new nodes never starves the re-checks that
//    keep the running fleet attested, and a wave of re-checks (a whole fleet admitted within one
//    re-attestation interval comes due together) never stops the admission of the nodes still waiting.
//  - A freed slot goes to the longest-waiting node whose kind fits, and is handed to it (held in its name)
//    before it is woken, so a wake-up never finds its slot taken by another node.
//  - A re-attestation that has waited as long as the node's attestation allows (plan.ts,
//    reattestationOverdueAt) takes a slot beyond the bound: the bound may slow re-checks, never make a
//    verified node lapse.
// The slots live in this process only: after a restart or a leader change they start empty, which at
// worst issues up to `limit` more challenges than the bound for one round.

export type ChallengeKind = 'admission' | 'reattestation';

export interface ChallengeSlotsOptions {
  /** Challenges outstanding at most; 0 means no bound. */
  limit: number;
  /** Slots each kind may not take from the other: a kind holds at most limit - reservePerKind (at most limit / 2). */
  reservePerKind: number;
  /** The longest a challenge without a verdict holds its slot. */
  holdMs: number;
  /** Called with a waiting node's name when a slot has been handed to it (the controller enqueues it). */
  wake: (nodeName: string) => void;
  /** Called when an overdue re-attestation takes a slot beyond the bound (metrics). */
  onOverdue?: () => void;
  /** Called after the slots change, with their counts (metrics). */
  onChange?: (outstanding: number, queued: number) => void;
  now?: () => number;
}

interface Hold {
  kind: ChallengeKind;
  until: number;
}

export class ChallengeSlots {
  private readonly held = new Map<string, Hold>();
  private reattestationsHeld = 0;
  /** Nodes waiting for a slot, in the order they first asked (a Map keeps insertion order). */
  private readonly waiting = new Map<string, ChallengeKind>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly options: ChallengeSlotsOptions) {
    if (options.limit < 0 || !Number.isInteger(options.limit)) throw new Error(`challenge slot limit must be a non-negative integer (got ${options.limit})`);
    if (options.limit > 0 && (options.reservePerKind < 0 || options.reservePerKind * 2 > options.limit)) {
      throw new Error(`the reserve per kind must be at least 0 and at most half the limit ${options.limit} (got ${options.reservePerKind})`);
    }
    this.now = options.now ?? Date.now;
  }

  /**
   * A slot for a new challenge to `nodeName`: true when the node may be challenged now (it holds the slot
   * from now until its verdict, at most holdMs); false when it must wait, and it is then woken through
   * `wake` once a slot is handed to it. `overdue` (a re-attestation that may wait no longer): a slot now,
   * beyond the bound if none is free.
   */
  acquire(nodeName: string, kind: ChallengeKind, overdue = false): boolean {
    if (this.options.limit === 0) return true;
    const now = this.now();
    this.expire(now, nodeName);
    const withinBound = this.held.has(nodeName) || this.fits(kind);
    if (withinBound || overdue) {
      if (!withinBound) this.options.onOverdue?.();
      this.hold(nodeName, kind, now);
      this.waiting.delete(nodeName);
      this.armTimer();
      this.changed();
      return true;
    }
    if (!this.waiting.has(nodeName)) this.waiting.set(nodeName, kind);
    this.changed();
    return false;
  }

  /** The node's challenge was answered (a verdict), withdrawn, or the node is gone: its slot is free. */
  release(nodeName: string): void {
    const wasWaiting = this.waiting.delete(nodeName);
    if (this.unhold(nodeName)) this.handOut();
    else if (wasWaiting) this.changed();
  }

  /** Challenges holding a slot now. */
  get outstanding(): number {
    return this.held.size;
  }

  /** Nodes waiting for a slot now. */
  get queued(): number {
    return this.waiting.size;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private fits(kind: ChallengeKind): boolean {
    if (this.held.size >= this.options.limit) return false;
    return this.heldOf(kind) < this.options.limit - this.options.reservePerKind;
  }

  private heldOf(kind: ChallengeKind): number {
    return kind === 'admission' ? this.held.size - this.reattestationsHeld : this.reattestationsHeld;
  }

  /** Holds a slot in `nodeName`'s name (replacing a hold it had), counting re-attestations apart. */
  private hold(nodeName: string, kind: ChallengeKind, now: number): void {
    this.unhold(nodeName);
    this.held.set(nodeName, { kind, until: now + this.options.holdMs });
    if (kind === 'reattestation') this.reattestationsHeld++;
  }

  private unhold(nodeName: string): boolean {
    const hold = this.held.get(nodeName);
    if (!hold) return false;
    this.held.delete(nodeName);
    if (hold.kind === 'reattestation') this.reattestationsHeld--;
    return true;
  }

  /** Holds past their time go back (their challenges stay valid; only the slot is freed). */
  private expire(now: number, asking?: string): void {
    let freed = false;
    for (const [name, hold] of this.held) {
      if (hold.until <= now) {
        this.unhold(name);
        freed = true;
      }
    }
    if (freed) this.handOut(asking);
  }

  /**
   * Free slots to the longest-waiting nodes whose kind fits, held in their names, then wake them. The node
   * asking right now (acquire) is skipped: it takes a slot itself if one is left, in its own call.
   */
  private handOut(asking?: string): void {
    const now = this.now();
    const woken: string[] = [];
    for (const [name, kind] of this.waiting) {
      if (this.held.size >= this.options.limit) break;
      if (name === asking) continue;
      if (!this.fits(kind)) continue; // an admission behind a full admission share: a re-attestation may still fit
      this.hold(name, kind, now);
      this.waiting.delete(name);
      woken.push(name);
    }
    this.armTimer();
    this.changed();
    for (const name of woken) this.options.wake(name);
  }

  private changed(): void {
    this.options.onChange?.(this.held.size, this.waiting.size);
  }

  /** One timer for the earliest hold to run out, so slots of silent attesters free without any event. */
  private armTimer(): void {
    let earliest = Infinity;
    for (const hold of this.held.values()) if (hold.until < earliest) earliest = hold.until;
    if (earliest === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = earliest;
    if (earliest === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.expire(this.now());
      this.armTimer();
    }, Math.max(0, earliest - this.now()) + 5);
    this.timer.unref();
  }
}
