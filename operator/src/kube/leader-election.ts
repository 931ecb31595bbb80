// Lease-based leader election (coordination.k8s.io/v1), with a fence.
//
// Acquire/renew follow client-go: every `retryPeriodMs` read the Lease; a Lease held by someone else
// is taken only after its record has stayed unchanged for `leaseDurationMs` *as measured by our own
// clock from when we first saw that record* (clocks of different machines are never compared); every
// write is conditioned on the resourceVersion read, so two candidates cannot both win.
//
// The fence is what makes "the old leader never writes after losing the lease" true. A leader may
// write only while `monotonicNow − lastRenewSentAt < renewDeadlineMs`, where lastRenewSentAt is taken
// *before* the read that led to a successful renew. A rival can take over no earlier than
// leaseDurationMs after it observed that renew, which is after we sent it; renewDeadline <
// leaseDuration, so our right to write ends before theirs begins. The difference
// (leaseDuration − renewDeadline) is the margin for a write already on the wire. A paused process
// (SIGSTOP, a long GC) wakes up with the monotonic clock advanced, so its very next write is refused
// before it is sent — no server round trip needed.
//
// Losing leadership is terminal: the elector never campaigns again, and the manager stops its
// controllers and exits so a fresh process starts clean.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import type { OperatorMetrics } from './metrics.js';
import { Leases, resourcePath, type KubeObject } from './resource.js';
import { isConflict, isNotFound, type RequestOptions, type RestClient } from './rest.js';

/** A write was attempted by a process that does not (or no longer) hold the lease. */
export class NotLeaderError extends Error {
  /**
   * @param leadershipEnded false while this process still holds the Lease but its renewal is overdue (the
   *   renewal in flight either lands, and writes resume, or fails, and the process steps down); true once
   *   it has lost or released the Lease, or never held it.
   */
  constructor(message: string, readonly leadershipEnded = true) {
    super(message);
    this.name = 'NotLeaderError';
  }
}

/** Checked before every write (kube-client.ts, events.ts). */
export interface Fence {
  /** Throws NotLeaderError unless writes are allowed right now. */
  assertLeader(): void;
}

/** For tools that run without leader election (the CLI, one-shot jobs). Never used silently. */
export const NO_FENCE: Fence = { assertLeader() {} };

/**
 * A write through `rest` that passes the fence twice: when it is asked for, so a deposed leader does not
 * queue it, and again at the moment it leaves (RequestOptions.beforeSend), after any wait in the client's
 * rate limit or for its connection, so a leader deposed or paused meanwhile sends nothing. The first
 * check throws synchronously; a refusal at the second rejects with the same NotLeaderError. Every write
 * of the operator's goes through here (kube-client.ts, events.ts, the attestation service's own writes).
 */
export function fencedRequest<T = unknown>(rest: RestClient, fence: Fence, method: string, path: string, options: RequestOptions): Promise<T> {
  fence.assertLeader();
  return rest.request<T>(method, path, { ...options, beforeSend: () => fence.assertLeader() });
}

export interface LeaderElectionOptions {
  client: RestClient;
  namespace: string;
  /** Lease name, e.g. 'chrysalis-operator'. */
  name: string;
  /** Unique per process (default hostname_pid_random). */
  identity?: string;
  /** How long a silent holder keeps the lease (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that could not renew for this long stops writing and steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  metrics?: OperatorMetrics;
  logger?: Logger;
  /** Monotonic milliseconds (default performance.now); injectable for tests. */
  now?: () => number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void | Promise<void>;
  /** Called once when leadership ends (lost, or released at shutdown). */
  onStoppedLeading(reason: string): void | Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

type State = 'follower' | 'leader' | 'lost' | 'stopped';

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export class LeaderElector implements Fence {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private state: State = 'follower';
  /** Monotonic time at which the read preceding our last successful acquire/renew was sent. */
  private lastRenewSentAt = -Infinity;
  private lastLease: Lease | undefined;
  private observedRecord = '';
  private observedAt = 0;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.identity = options.identity ?? defaultIdentity();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new Error('renewDeadlineMs must be shorter than leaseDurationMs');
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) throw new Error('retryPeriodMs must be shorter than renewDeadlineMs');
    this.now = options.now ?? (() => performance.now());
    this.log = (options.logger ?? silentLogger()).child({ lease: `${options.namespace}/${options.name}`, identity: this.identity });
  }

  /** True while this process may write: it holds the lease and its renew deadline has not passed. */
  isLeader(): boolean {
    return this.state === 'leader' && this.now() - this.lastRenewSentAt < this.renewDeadlineMs;
  }

  assertLeader(): void {
    if (this.isLeader()) return;
    this.options.metrics?.fenceRejections.inc();
    const why = this.state === 'leader'
      ? `renew deadline passed ${Math.round(this.now() - this.lastRenewSentAt - this.renewDeadlineMs)} ms ago`
      : `state is ${this.state}`;
    throw new NotLeaderError(`${this.identity} is not the leader of ${this.options.namespace}/${this.options.name}: ${why}`, this.state !== 'leader');
  }

  /** Runs `fn` only if this process is the leader at the moment of the call. */
  async fencedWrite<T>(fn: () => Promise<T>): Promise<T> {
    this.assertLeader();
    return fn();
  }

  /**
   * Campaigns until elected, then renews; resolves when leadership ends (lost or released) or stop()
   * is called before election. Callbacks run on the transitions.
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.loop) throw new Error('leader elector already running');
    this.loop = this.campaign(callbacks);
    return this.loop;
  }

  /** Ends the campaign; if leading, releases the lease so a successor need not wait it out. */
  async stop(): Promise<void> {
    const wasLeader = this.isLeader();
    if (this.state === 'follower' || this.state === 'leader') this.state = 'stopped';
    this.wake?.();
    // Let an in-flight renew finish first, so the release is conditioned on the latest resourceVersion.
    await this.loop;
    if (wasLeader) await this.release();
  }

  private async campaign(callbacks: LeaderCallbacks): Promise<void> {
    while (this.state === 'follower') {
      if (await this.tryAcquireOrRenew()) {
        if (this.state !== 'follower') break; // stop() raced the acquire
        this.state = 'leader';
        this.options.metrics?.isLeader.set({ lease: this.options.name }, 1);
        this.log.info('became leader');
        // Not awaited: starting controllers (waiting for caches) must not delay the first renew.
        void Promise.resolve().then(() => callbacks.onStartedLeading()).catch((err: unknown) => {
          this.log.error('onStartedLeading failed', { error: String(err) });
        });
        break;
      }
      await this.sleep(this.retryPeriodMs);
    }
    while (this.state === 'leader') {
      await this.sleep(this.retryPeriodMs);
      if (this.state !== 'leader') break;
      if (!this.isLeader()) {
        this.lose('renew deadline passed before a renew succeeded');
        break;
      }
      const renewed = await this.tryAcquireOrRenew();
      if (this.state === 'leader' && !renewed && !this.isLeader()) this.lose('could not renew within the renew deadline');
    }
    this.options.metrics?.isLeader.set({ lease: this.options.name }, 0);
    if (this.state === 'lost' || this.lastRenewSentAt > -Infinity) {
      await callbacks.onStoppedLeading(this.state === 'lost' ? 'lost' : 'stopped');
    }
  }

  private lose(reason: string): void {
    this.state = 'lost';
    this.log.error('lost leadership; this process will not write again', { reason });
  }

  /** One attempt; true if we hold the lease afterwards. Never throws. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const sentAt = this.now();
    const path = resourcePath(Leases, this.options.namespace, this.options.name);
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    const nowWall = microTime(new Date());
    // A leader renews with one write conditioned on its own last write's resourceVersion: it succeeds
    // only if nobody has touched the Lease since, which is what the read would have shown. A read first
    // doubled each renewal's time, and on a loaded apiserver (the chaos bench at 8,000 replicas) the
    // fence then stood closed for seconds after most renew deadlines. A 409 falls back to the read.
    const last = this.lastLease;
    if (this.state === 'leader' && last?.spec?.holderIdentity === this.identity) {
      try {
        const renewed = await this.options.client.request<Lease>('PUT', path, {
          body: { ...last, spec: { ...last.spec, leaseDurationSeconds, renewTime: nowWall } },
        });
        return this.succeeded(renewed, sentAt);
      } catch (err) {
        if (!isConflict(err)) {
          this.log.warn('lease attempt failed', { error: String(err) });
          return false;
        }
      }
    }
    try {
      let lease: Lease;
      try {
        lease = await this.options.client.request<Lease>('GET', path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await this.options.client.request<Lease>('POST', resourcePath(Leases, this.options.namespace), {
          body: {
            apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
            metadata: { name: this.options.name, namespace: this.options.namespace },
            spec: { holderIdentity: this.identity, leaseDurationSeconds, acquireTime: nowWall, renewTime: nowWall, leaseTransitions: 0 },
          },
        });
        return this.succeeded(created, sentAt);
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseTransitions]);
      if (record !== this.observedRecord) {
        this.observedRecord = record;
        this.observedAt = this.now();
      }
      const holder = spec.holderIdentity ?? '';
      const ours = holder === this.identity;
      if (this.state === 'leader' && !ours) {
        this.lose(`lease taken by ${holder || 'nobody (released)'}`);
        return false;
      }
      if (!ours && holder && this.now() < this.observedAt + this.leaseDurationMs) return false;
      const body: Lease = {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.identity,
          leaseDurationSeconds,
          acquireTime: ours && spec.acquireTime ? spec.acquireTime : nowWall,
          renewTime: nowWall,
          leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
        },
      };
      // PUT carries metadata.resourceVersion from the read: a concurrent change makes it a 409.
      const updated = await this.options.client.request<Lease>('PUT', path, { body });
      if (!ours) this.log.info('acquired lease', { previousHolder: holder || undefined });
      return this.succeeded(updated, sentAt);
    } catch (err) {
      if (!isConflict(err)) this.log.warn('lease attempt failed', { error: String(err) });
      return false;
    }
  }

  private succeeded(lease: Lease, sentAt: number): boolean {
    this.lastLease = lease;
    this.lastRenewSentAt = sentAt;
    const spec = lease.spec ?? {};
    this.observedRecord = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseTransitions]);
    this.observedAt = this.now();
    return true;
  }

  /** Empties the holder so a successor acquires at its next retry; conditioned like every lease write. */
  private async release(): Promise<void> {
    const lease = this.lastLease;
    if (!lease) return;
    try {
      await this.options.client.request('PUT', resourcePath(Leases, this.options.namespace, this.options.name), {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(new Date()) } },
      });
      this.log.info('released lease');
    } catch (err) {
      // Someone else already holds it, or the apiserver is unreachable: the lease then expires on its own.
      this.log.warn('could not release lease', { error: String(err) });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); r(); }
      this.wake = done;
    });
  }
}
