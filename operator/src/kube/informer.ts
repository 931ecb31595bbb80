// An informer: a local cache of one resource kept equal to the server by list + watch.
//
//  - List (paginated) gives a snapshot and its resourceVersion; the watch continues from exactly that
//    version, so no change falls in between.
//  - Every event moves the cache's resourceVersion forward; bookmarks (allowWatchBookmarks) move it on
//    quiet resources too, so a reconnect resumes from a recent version instead of a compacted one.
//  - When the watch ends (server timeout, apiserver restart, network error) it is re-opened from the
//    last resourceVersion after a jittered backoff: the server replays whatever happened meanwhile.
//  - When the server answers 410 Gone (the version was compacted or is older than its watch cache),
//    the informer relists and emits synthetic add/update/delete events for every difference between
//    the cache and the new snapshot — deletes included, which a plain re-watch could never show.
//  - A watchdog restarts a watch that has delivered nothing (not even a bookmark) for
//    `silenceTimeoutMs`: a half-open TCP connection otherwise looks exactly like a quiet resource.
//  - The cache itself is a Store (store.ts): each object passes the transform before it is kept, and
//    indexes (addIndexer, byIndex) answer "which objects have this value" without a scan.
//
// Handlers get objects; controllers turn them into keys (controller.ts) — watches enqueue keys, never
// payloads.
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { OperatorMetrics } from './metrics.js';
import { resourcePath, type KubeObject, type ResourceType } from './resource.js';
import { isGone, KubeApiError, type RestClient, type WatchEvent } from './rest.js';
import { Store, type Transform } from './store.js';

/**
 * How long a LIST page may take: longer than kube-apiserver's own bound on a request (--request-timeout,
 * 60 s by default), so the client never gives up on a page the server is still producing. With the
 * client's 30 s, a standby controller process in the chaos bench at 2,000 nodes asked for its first
 * page of ProviderNodes (500 of about 10 KB) every minute for minutes on a saturated apiserver, gave up
 * at 30 s each time, and never synced: each try spent the server's work and asked for it again.
 */
export const LIST_PAGE_TIMEOUT_MS = 75_000;

export interface InformerOptions<T extends KubeObject = KubeObject> {
  client: RestClient;
  resource: ResourceType;
  /** Watch one namespace; omit for all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  metrics?: OperatorMetrics;
  logger?: Logger;
  /** Restart a watch that delivered nothing for this long (default 150 s; the apiserver bookmarks about once a minute). */
  silenceTimeoutMs?: number;
  /** Server-side watch timeout (default a random 300–600 s, so many informers do not reconnect together). */
  watchTimeoutSeconds?: number;
  /** Reconnect backoff (default 200 ms doubling to 30 s, 20% jitter). */
  backoff?: BackoffPolicy;
  /** List page size (default 500). */
  pageSize?: number;
  /** Applied to every object before it is cached (see Store). */
  transform?: Transform<T>;
}

export type RestartReason = 'closed' | 'error' | 'gone' | 'silent';

export class Informer<T extends KubeObject = KubeObject> extends Store<T> {
  readonly resource: ResourceType;
  /** The watched namespace; undefined for all namespaces or a cluster-scoped resource. */
  readonly namespace: string | undefined;
  private rv = '';
  private synced = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private current: AbortController | undefined;
  private wakeSleep: (() => void) | undefined;
  private readonly syncWaiters: Array<() => void> = [];
  private readonly label: string;

  constructor(private readonly options: InformerOptions<T>) {
    const label = options.resource.group ? `${options.resource.plural}.${options.resource.group}` : options.resource.plural;
    super({ transform: options.transform, logger: (options.logger ?? silentLogger()).child({ informer: label, namespace: options.namespace }) });
    this.resource = options.resource;
    this.namespace = options.namespace;
    this.label = label;
  }

  /** True once the first list has filled the cache. */
  hasSynced(): boolean { return this.synced; }

  /** The resourceVersion the cache reflects (of the last list, event or bookmark). */
  get resourceVersion(): string { return this.rv; }

  start(): void {
    if (this.loop) throw new Error(`informer ${this.label} already started`);
    this.loop = this.run();
  }

  /** Resolves once synced; rejects after `timeoutMs` if given (otherwise waits as long as it takes). */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolveSync, rejectSync) => {
      const timer = timeoutMs === undefined ? undefined
        : setTimeout(() => rejectSync(new Error(`informer ${this.label} not synced within ${timeoutMs} ms`)), timeoutMs);
      this.syncWaiters.push(() => { clearTimeout(timer); resolveSync(); });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    this.wakeSleep?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let needList = true;
    let attempt = 0;
    const policy = this.options.backoff ?? { initialMs: 200, maxMs: 30_000 };
    while (!this.stopped) {
      let reason: RestartReason;
      let healthy = false;
      try {
        if (needList) {
          await this.relist();
          needList = false;
          // Stopped by a handler of the sync (or a waiter on it): no watch to start, none to abort.
          if (this.stopped) break;
        }
        const outcome = await this.watchOnce();
        if (this.stopped) break;
        reason = outcome.reason;
        healthy = outcome.healthy;
      } catch (err) {
        if (this.stopped) break;
        reason = isGone(err) ? 'gone' : 'error';
        this.log.warn('list/watch failed', { reason, error: String(err) });
      }
      this.options.metrics?.watchRestarts.inc({ resource: this.label, reason });
      if (reason === 'gone') needList = true;
      // A watch that ran fine and simply ended reconnects at once; failures back off so a down
      // apiserver is not hammered by every informer of every operator.
      if (healthy) attempt = 0;
      if (reason === 'closed' && healthy) continue;
      if (reason !== 'closed') this.log.info('restarting watch', { reason, resourceVersion: this.rv, attempt });
      await this.sleep(backoffDelay(attempt++, policy));
    }
  }

  private query(): Record<string, string | undefined> {
    return { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  /** Lists everything and brings the cache to the snapshot, emitting one event per difference. */
  private async relist(): Promise<void> {
    const path = resourcePath(this.resource, this.options.namespace);
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.options.client.request<{ metadata: { resourceVersion: string; continue?: string }; items: T[] }>('GET', path, {
        query: { ...this.query(), limit: this.options.pageSize ?? 500, continue: cont },
        timeoutMs: LIST_PAGE_TIMEOUT_MS,
      });
      for (const item of page.items) {
        // List items carry no apiVersion/kind; fill them in so handlers see whole objects. Each is cut
        // to the cached shape at once: the pages of a large list are not all held whole until the last.
        const obj = { apiVersion: this.apiVersion(), kind: this.resource.kind, ...item } as T;
        items.push(this.transform ? this.transform(obj) : obj);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);

    this.replace(items, true);
    this.rv = rv;
    this.log.debug('listed', { count: items.length, resourceVersion: rv });
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private apiVersion(): string {
    return this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
  }

  /** One watch from the cache's resourceVersion; says why it ended and whether it worked meanwhile. */
  private async watchOnce(): Promise<{ reason: RestartReason; healthy: boolean }> {
    const ac = new AbortController();
    this.current = ac;
    const silenceMs = this.options.silenceTimeoutMs ?? 150_000;
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    let lastActivity = performance.now();
    const started = lastActivity;
    let ended: RestartReason | undefined;
    let events = 0;
    const watchdog = setInterval(() => {
      if (performance.now() - lastActivity > silenceMs) {
        ended = 'silent';
        this.log.warn('watch silent; restarting', { silentMs: Math.round(performance.now() - lastActivity) });
        ac.abort();
      }
    }, Math.max(10, Math.min(1000, silenceMs / 4)));
    try {
      await this.options.client.watch(
        resourcePath(this.resource, this.options.namespace),
        { ...this.query(), resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds },
        (event) => {
          lastActivity = performance.now();
          events++;
          if (ended) return;
          const error = this.apply(event);
          if (error) {
            ended = error.code === 410 ? 'gone' : 'error';
            if (ended === 'error') this.log.warn('watch error event', { code: error.code, message: error.message });
            ac.abort();
          }
        },
        ac.signal,
      );
    } catch (err) {
      if (ended) return { reason: ended, healthy: false };
      throw err;
    } finally {
      clearInterval(watchdog);
      this.current = undefined;
    }
    const healthy = events > 0 || performance.now() - started > 1000;
    return { reason: ended ?? 'closed', healthy: healthy && ended !== 'gone' && ended !== 'error' };
  }

  /** Applies one watch event to the cache; returns the Status of an ERROR event. */
  private apply(event: WatchEvent): KubeApiError | undefined {
    const obj = event.object as T;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        // Read before put: the transform may cut the object down in place.
        this.rv = obj.metadata?.resourceVersion ?? this.rv;
        this.put(obj);
        return undefined;
      }
      case 'DELETED':
        this.rv = obj.metadata?.resourceVersion ?? this.rv;
        this.remove(obj);
        return undefined;
      case 'BOOKMARK':
        this.rv = obj.metadata?.resourceVersion ?? this.rv;
        return undefined;
      case 'ERROR': {
        const status = event.object as { code?: number; reason?: string; message?: string };
        return new KubeApiError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? '', 'WATCH', this.label);
      }
      default:
        return new KubeApiError(500, 'UnknownEventType', `watch event type ${String((event as { type: unknown }).type)}`, 'WATCH', this.label);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); r(); }
      this.wakeSleep = done;
    });
  }
}
