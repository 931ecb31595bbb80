// How the attestation service and metering read a ProviderNode before a status write to it (the
// ProviderNode controller keeps only what it wrote itself, with kube/own-writes.ts alone).
//
// Every such write is conditioned on the resourceVersion it was computed from, so the read may be a copy
// that lags: a stale copy costs a refused write (409) and a second try on a fresh read, never a write
// computed from an object that changed. The first read of a write therefore comes from the operator's
// ProviderNode informer, and the retries after a refusal from the apiserver.
//
// One lag is certain, not occasional: the writes to one host take turns (host-writes.ts), and the turn after
// a write starts as soon as the apiserver answered it, before the informer has delivered the change. A
// reader that took the informer's copy then would be refused every time. So each status write this process
// makes is remembered (kube/own-writes.ts: the apiserver answers a patch with the object as written) until
// the informer delivers that same resourceVersion, and a read in between gets the remembered object. So is
// each object read from the apiserver: a node's evidence is checked there when the copy does not show its
// challenge yet, and the next read, a moment later, would otherwise look it up there again. Should the
// informer deliver a newer version before one was remembered, the memory costs one refused write, after
// which the fresh read replaces it.
//
// When a request expects the copy to show something another writer has just written (the challenge the
// controller issued, answered by a node's evidence), the copy is given a moment to catch up before the
// apiserver is asked (forNodeShowing); a node asking for its challenge is answered from the copy alone
// (cachedShowing). Asked at once, as it was, every such read went to the apiserver whenever the informer
// lagged, which is when the apiserver is slowest: in the chaos bench at 2,000 nodes the service read
// 25-60 ProviderNodes a second from a saturated apiserver, about 10 KB each, most of them for challenge
// requests (chrysalis_providernode_fresh_reads_total), and so added to what made its informer lag.
//
// Without an informer (unit tests, the CLI) every read goes to the apiserver.
import type { ProviderNode } from '../../api/providernode.js';
import { ProviderNodes } from '../../kube/chrysalis-resources.js';
import { BY_NODE_NAME, nodeNameOf } from '../../kube/indexes.js';
import { KubeClient } from '../../kube/kube-client.js';
import { NO_FENCE } from '../../kube/leader-election.js';
import type { OperatorMetrics } from '../../kube/metrics.js';
import { OwnWrites } from '../../kube/own-writes.js';
import { resourcePath, type KubeObject } from '../../kube/resource.js';
import type { RestClient } from '../../kube/rest.js';
import type { Store } from '../../kube/store.js';

/** How long forNodeShowing waits for the informer's copy to show what a request expects, before a GET. */
export const CATCH_UP_MS = 3_000;

/** What is read of the informer: its ProviderNodes by name and by spec.nodeName, and their updates. */
export type ProviderNodeCache = Pick<Store<ProviderNode & KubeObject>, 'get' | 'addIndexer' | 'byIndex' | 'onUpdate' | 'onDelete'>;

export interface ProviderNodeReadsOptions {
  rest: RestClient;
  /** The operator's ProviderNode informer; absent: every read goes to the apiserver. */
  cache?: ProviderNodeCache;
  now?: () => number;
  /** Where reads sent to the apiserver are counted, by why (chrysalis_providernode_fresh_reads_total). */
  metrics?: OperatorMetrics;
}

/**
 * Why a read goes to the apiserver instead of the informer's copy; `false` where the copy may answer.
 * Counted by it, so a bench can tell which path adds reads when the apiserver is loaded.
 */
export type FreshRead =
  | 'node-evidence-not-shown' | 'node-verdict-conflict' | 'standing'
  | 'replica-challenge-conflict' | 'replica-evidence-not-shown' | 'replica-verdict-conflict'
  | 'usage-refusal' | 'usage-conflict'
  // Asked of the copy, which could not answer: no cached ProviderNode (or several) names the node; no cache.
  | 'not-cached' | 'no-cache';

export class ProviderNodeReads {
  /** The objects this process last wrote or read from the apiserver, while the informer has not shown them. */
  private readonly own: OwnWrites<ProviderNode & KubeObject> | undefined;
  /** Reads only (GET, 404 → undefined): no leader fence is involved. */
  private readonly client: KubeClient;
  /** Reads that the cache (or a remembered write) answered, and reads sent to the apiserver. */
  readonly counts = { cached: 0, fresh: 0 };
  /** spec.nodeName → callbacks of forNodeShowing waiting for the informer's next copy of it. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(private readonly options: ProviderNodeReadsOptions) {
    this.client = new KubeClient(options.rest, NO_FENCE);
    const cache = options.cache;
    this.own = cache ? new OwnWrites(cache, options.now ?? Date.now) : undefined;
    if (!cache) return;
    cache.addIndexer(BY_NODE_NAME, nodeNameOf);
    cache.onUpdate((_old, obj) => {
      // Copied: a waiter that is satisfied removes itself.
      for (const wake of [...(this.waiting.get(obj.spec?.nodeName ?? '') ?? [])]) wake();
    });
  }

  /** Whether reads may come from a cache (else every read is from the apiserver already). */
  get fromCache(): boolean {
    return this.options.cache !== undefined;
  }

  /**
   * The ProviderNode that names `nodeName` in spec.nodeName; undefined when none does. `fresh`: from the
   * apiserver, and why (a retry after a refused write, or confirming what a copy said before refusing on it).
   * From the cache only when exactly one cached ProviderNode names the node; otherwise it is looked up.
   */
  async forNode(nodeName: string, fresh: FreshRead | false): Promise<ProviderNode | undefined> {
    if (!fresh && this.options.cache) {
      const named = this.options.cache.byIndex(BY_NODE_NAME, nodeName);
      if (named.length === 1) return this.newest(named[0]!);
    }
    this.countFresh(fresh || (this.options.cache ? 'not-cached' : 'no-cache'));
    // ProviderNodes are usually named after their Node: one GET. Otherwise search the list.
    const byName = await this.read(nodeName);
    if (byName?.spec.nodeName === nodeName) return byName;
    const list = await this.options.rest.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes));
    const found = list.items.find((p) => p.spec.nodeName === nodeName);
    this.remember(found);
    return found;
  }

  /**
   * The ProviderNode that names `nodeName`, once a copy shows what the request expects (`shows`): the
   * cache's (or a remembered object) if it does now or within `waitMs`, else the apiserver's, whatever
   * that shows (the caller judges it as it would any read). Without a cache: the apiserver's at once.
   */
  async forNodeShowing(nodeName: string, shows: (pn: ProviderNode) => boolean, why: FreshRead, waitMs = CATCH_UP_MS): Promise<ProviderNode | undefined> {
    return (await this.cachedShowing(nodeName, shows, waitMs)) ?? this.forNode(nodeName, why);
  }

  /**
   * The cache's copy (or a remembered object) of the ProviderNode that names `nodeName`, once it shows
   * `shows`, now or within `waitMs`; undefined when it does not by then, when not exactly one cached
   * ProviderNode names the node, or without a cache. Never reads the apiserver.
   */
  async cachedShowing(nodeName: string, shows: (pn: ProviderNode) => boolean, waitMs: number): Promise<ProviderNode | undefined> {
    const cache = this.options.cache;
    if (!cache) return undefined;
    const showing = () => {
      const named = cache.byIndex(BY_NODE_NAME, nodeName);
      if (named.length !== 1) return undefined;
      const pn = this.newest(named[0]!);
      return shows(pn) ? pn : undefined;
    };
    const now = showing();
    if (now || waitMs <= 0) return now;
    return new Promise<ProviderNode | undefined>((resolve) => {
      const waiters = this.waiting.get(nodeName) ?? new Set<() => void>();
      this.waiting.set(nodeName, waiters);
      const done = (pn: ProviderNode | undefined) => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.waiting.delete(nodeName);
        resolve(pn);
      };
      const wake = () => { const pn = showing(); if (pn) done(pn); };
      const timer = setTimeout(() => done(undefined), waitMs);
      waiters.add(wake);
    });
  }

  /** The ProviderNode named `name`; undefined when it does not exist. `fresh` as for forNode. */
  async named(name: string, fresh: FreshRead | false): Promise<ProviderNode | undefined> {
    if (!fresh && this.options.cache) {
      const cached = this.options.cache.get(undefined, name);
      if (cached) return this.newest(cached);
    }
    this.countFresh(fresh || (this.options.cache ? 'not-cached' : 'no-cache'));
    return this.read(name);
  }

  private countFresh(why: FreshRead): void {
    this.counts.fresh++;
    this.options.metrics?.providerNodeFreshReads.inc({ reason: why });
  }

  /**
   * Records an object newer than the informer's copy — one a status write of this process returned, or
   * one just read from the apiserver: reads get it until the informer shows that version.
   */
  remember(object: ProviderNode | undefined): void {
    this.own?.remember(object as (ProviderNode & KubeObject) | undefined);
  }

  /**
   * Drops what is remembered of `name`: a write conditioned on it was refused, so the apiserver holds a
   * newer object, which the informer will show (or a fresh read will return).
   */
  forget(name: string): void {
    this.own?.forget(undefined, name);
  }

  /** The newer of the informer's copy `cached` and what this process remembers of the same object. */
  newest(cached: ProviderNode & KubeObject): ProviderNode {
    this.counts.cached++;
    return this.own ? this.own.newest(cached) : cached;
  }

  /** From the apiserver; what it answers is newer than anything remembered (remember replaces it). */
  private async read(name: string): Promise<ProviderNode | undefined> {
    const object = await this.client.get<ProviderNode & KubeObject>(ProviderNodes, name);
    this.remember(object);
    return object;
  }
}
