// The manager wires the reconcile core together for one operator process:
//   informers start at once (a standby keeps warm caches, so a failover reconciles immediately);
//   leader election decides when controllers run; health serves /healthz /readyz /metrics;
//   SIGTERM/SIGINT trigger a graceful stop: stop handing out keys, let in-flight reconciles finish
//   within `shutdownTimeoutMs`, release the lease so a successor takes over at its next retry instead
//   of waiting a lease duration, stop watches, close the server.
// Losing the lease ends run() with 'lost-leadership' (the fence already refuses every write); the
// caller exits and the Deployment starts a fresh process.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../util/log.js';
import { componentLogger } from '../util/log.js';
import { KubeClient } from './kube-client.js';
import { Controller, type ControllerOptions } from './controller.js';
import { EventRecorder } from './events.js';
import { HealthServer, type Readiness } from './health.js';
import { cachedShapeOf } from './cached-shape.js';
import { Informer, type InformerOptions } from './informer.js';
import { DEFAULT_CLIENT_RATE_LIMIT, type ClientRateLimit } from './kube-config.js';
import { defaultIdentity, LeaderElector, NO_FENCE, type Fence } from './leader-election.js';
import { OperatorMetrics } from './metrics.js';
import type { KubeObject, ResourceType } from './resource.js';
import { RestClient } from './rest.js';

export interface ManagerLeaderElection {
  namespace: string;
  /** Lease name (default 'chrysalis-operator'). */
  name?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** Unique per process; the lease holder and the events' reportingInstance (default hostname_pid_random). */
  identity?: string;
  /** false: run controllers at once with no fence (a single replica, tests). Must be said explicitly. */
  leaderElection: ManagerLeaderElection | false;
  /** false: no HTTP endpoints. */
  health: { port: number; host?: string } | false;
  clientRateLimit?: ClientRateLimit;
  /** How long in-flight reconciles may take to finish at shutdown (default 20 s). */
  shutdownTimeoutMs?: number;
  logger?: Logger;
  metrics?: OperatorMetrics;
}

export type ManagerExit = 'stopped' | 'lost-leadership';

export class Manager {
  readonly identity: string;
  readonly metrics: OperatorMetrics;
  readonly rest: RestClient;
  /** Fenced: every write checks leadership first. */
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly elector: LeaderElector | undefined;
  /** The Lease's own client (leader election only). */
  private readonly electionRest: RestClient | undefined;
  readonly log: Logger;
  private readonly informers: Informer<KubeObject>[] = [];
  /** Whether run() has started the informers: one asked for later starts at once. */
  private informersStarted = false;
  private readonly informersByKey = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private readonly health: HealthServer | undefined;
  private controllersRunning = false;
  private stopping: Promise<void> | undefined;
  private exitReason: ManagerExit = 'stopped';
  private resolveExit: ((e: ManagerExit) => void) | undefined;
  private readonly exited: Promise<ManagerExit>;

  constructor(private readonly options: ManagerOptions) {
    this.identity = options.identity ?? defaultIdentity();
    this.log = options.logger ?? componentLogger('manager', { identity: this.identity });
    this.metrics = options.metrics ?? new OperatorMetrics();
    const rl = options.clientRateLimit ?? DEFAULT_CLIENT_RATE_LIMIT;
    this.rest = new RestClient(options.kubeConfig, { qps: rl.qps, burst: rl.burst, metrics: this.metrics });
    let fence: Fence = NO_FENCE;
    if (options.leaderElection) {
      const le = options.leaderElection;
      // The Lease has a client of its own: in the shared one its renewals waited in the rate limiter's
      // line behind the controllers' writes, and under load (a new leader's resync of 2,000 nodes in the
      // chaos bench) a renewal waited past the renew deadline and the leader stepped down, and its
      // successor after it. A renewal every retryPeriod needs little: 5 a second, burst 10.
      this.electionRest = new RestClient(options.kubeConfig, { qps: 5, burst: 10, metrics: this.metrics });
      this.elector = new LeaderElector({
        client: this.electionRest, namespace: le.namespace, name: le.name ?? 'chrysalis-operator', identity: this.identity,
        leaseDurationMs: le.leaseDurationMs, renewDeadlineMs: le.renewDeadlineMs, retryPeriodMs: le.retryPeriodMs,
        metrics: this.metrics, logger: this.log,
      });
      fence = this.elector;
    }
    this.client = new KubeClient(this.rest, fence);
    this.events = new EventRecorder({ client: this.rest, fence, instance: this.identity, metrics: this.metrics, logger: this.log });
    if (options.health) {
      this.health = new HealthServer({ ...options.health, metrics: this.metrics, readiness: () => this.readiness() });
    }
    this.exited = new Promise((r) => { this.resolveExit = r; });
  }

  /**
   * An informer run by this manager (started by run()). Pods, Nodes and ProviderNodes are cached in the
   * operator's shape (cached-shape.ts) unless `transform` says otherwise.
   */
  informer<T extends KubeObject>(resource: ResourceType, options: Omit<InformerOptions<T>, 'client' | 'resource' | 'metrics' | 'logger'> = {}): Informer<T> {
    // Controllers that watch the same objects share one informer (one list, one watch, one cache):
    // several ask for ProviderNodes, Nodes and Pods, and each copy would cost the apiserver and memory.
    const key = [resource.group, resource.version, resource.plural, options.namespace ?? '', options.labelSelector ?? '', options.fieldSelector ?? ''].join('|');
    const shared = this.informersByKey.get(key);
    const transform = options.transform ?? cachedShapeOf<T>(resource);
    if (shared) {
      // One cache has one shape: a reader asking for another would read objects cut for someone else.
      if (options.transform && (shared.transform as unknown) !== options.transform) throw new Error(`the shared ${resource.plural} informer already caches another shape`);
      return shared as unknown as Informer<T>;
    }
    const informer = new Informer<T>({ ...options, transform, client: this.rest, resource, metrics: this.metrics, logger: this.log });
    this.informers.push(informer as unknown as Informer<KubeObject>);
    this.informersByKey.set(key, informer as unknown as Informer<KubeObject>);
    // Asked for after run() started the others (the attestation service is wired after the manager runs).
    if (this.informersStarted) informer.start();
    return informer;
  }

  /** A controller run by this manager while it leads. Wire its watches with controller.watch(informer). */
  controller(options: Omit<ControllerOptions, 'metrics' | 'logger'>): Controller {
    const controller = new Controller({ ...options, metrics: this.metrics, logger: this.log });
    this.controllers.push(controller);
    return controller;
  }

  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    const unsynced = this.informers.filter((i) => !i.hasSynced()).map((i) => i.resource.plural);
    if (unsynced.length) return { ready: false, reason: `caches not synced: ${unsynced.join(', ')}` };
    const leading = this.elector ? this.elector.isLeader() : true;
    if (leading && !this.controllersRunning) return { ready: false, reason: 'leader, controllers starting' };
    return { ready: true };
  }

  get healthPort(): number {
    if (!this.health) throw new Error('manager runs without a health server');
    return this.health.port;
  }

  /** Starts everything; resolves when the manager has stopped (signal, stop(), or lost lease). */
  async run(): Promise<ManagerExit> {
    await this.health?.start();
    this.informersStarted = true;
    for (const informer of this.informers) informer.start();
    if (this.elector) {
      void this.elector.run({
        onStartedLeading: () => this.startControllers(),
        onStoppedLeading: (reason) => {
          if (reason === 'lost') {
            this.exitReason = 'lost-leadership';
            void this.stop();
          }
        },
      });
    } else {
      void this.startControllers();
    }
    return this.exited;
  }

  /** SIGTERM/SIGINT → graceful stop. A second signal exits at once. */
  handleSignals(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.stopping) {
        this.log.warn('second signal; exiting without waiting', { signal });
        process.exit(1);
      }
      this.log.info('shutting down', { signal });
      void this.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  /** Graceful stop (idempotent). */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async startControllers(): Promise<void> {
    await Promise.all(this.controllers.flatMap((c) => c.watched).map((i) => i.waitForSync()));
    // Leadership may have been lost, or shutdown begun, while the caches synced.
    if (this.stopping || (this.elector && !this.elector.isLeader())) return;
    for (const c of this.controllers) c.start();
    this.controllersRunning = true;
    this.log.info('controllers running', { controllers: this.controllers.map((c) => c.name) });
  }

  private async shutdown(): Promise<void> {
    const deadline = this.options.shutdownTimeoutMs ?? 20_000;
    const drained = await Promise.all(this.controllers.map((c) => c.stop(deadline)));
    this.controllersRunning = false;
    if (drained.includes(false)) this.log.warn('some reconciles did not finish before the shutdown deadline');
    // After the drain, so no reconcile writes after the lease is released.
    await this.elector?.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.health?.stop();
    this.rest.close();
    this.electionRest?.close();
    this.log.info('stopped', { exit: this.exitReason });
    this.resolveExit?.(this.exitReason);
  }
}
