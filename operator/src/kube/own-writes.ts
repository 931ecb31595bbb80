// What this process wrote (or read from the apiserver), standing in for the informer's copy of the same
// object until the informer shows that version.
//
// A reconcile reads its object from the informer, but the informer delivers a write some moments after the
// apiserver answered it. A reconcile that runs in between — woken by another object (a Pod of the pool, a
// Pod on the node), which is common while a controller is busy — plans from the copy before its own write.
// What that costs depends on the write: a status write conditioned on the resourceVersion is refused (409)
// and retried; an unconditioned server-side apply of status is sent again, and a condition whose
// transition the stale copy has not shown yet gets a new lastTransitionTime. So a write's answer (the
// object as written) is remembered, and `newest` returns it instead of the copy until the informer delivers
// that same resourceVersion. Watch events come in order, so the informer shows the remembered version
// before any later one. Should it skip it (a relist after 410 Gone), the memory is dropped after
// REMEMBER_MS; `forget` drops it at once (a write conditioned on it was refused: the apiserver holds newer).
import { cacheKey, cacheKeyOf, type KubeObject } from './resource.js';
import type { Store } from './store.js';

/** How long an object this process wrote or read stands in for the informer's copy at most. */
export const REMEMBER_MS = 30_000;

/** What is read of the informer: the copy by name, and its updates and deletes. */
export type OwnWritesCache<T extends KubeObject> = Pick<Store<T>, 'get' | 'onUpdate' | 'onDelete'>;

export class OwnWrites<T extends KubeObject> {
  /** cache key → the object this process last wrote or read, while the informer has not shown it. */
  private readonly newer = new Map<string, { object: T; at: number }>();

  constructor(private readonly cache: OwnWritesCache<T>, private readonly now: () => number = Date.now) {
    // The informer caught up with a write: its copy is as new, and later events only newer.
    cache.onUpdate((_old, obj) => {
      const key = cacheKeyOf(obj);
      if (this.newer.get(key)?.object.metadata?.resourceVersion === obj.metadata?.resourceVersion) this.newer.delete(key);
    });
    cache.onDelete((obj) => { this.newer.delete(cacheKeyOf(obj)); });
  }

  /** Records an object newer than the informer's copy: what a write returned, or a fresh read. */
  remember(object: T | undefined): void {
    const name = object?.metadata?.name;
    const version = object?.metadata?.resourceVersion;
    if (!object || !name || !version) return;
    const key = cacheKey(object.metadata?.namespace, name);
    // The informer already shows this version (a write that changed nothing keeps it): its copy is as
    // new, and anything remembered is older.
    if (this.cache.get(object.metadata?.namespace, name)?.metadata?.resourceVersion === version) this.newer.delete(key);
    else this.newer.set(key, { object, at: this.now() });
  }

  /** Drops what is remembered of one object: the apiserver holds a newer one than that. */
  forget(namespace: string | undefined, name: string): void {
    this.newer.delete(cacheKey(namespace, name));
  }

  /** The newer of the informer's copy `cached` and what this process remembers of the same object. */
  newest(cached: T): T {
    const key = cacheKeyOf(cached);
    const mine = this.newer.get(key);
    if (!mine) return cached;
    if (this.now() - mine.at > REMEMBER_MS) {
      this.newer.delete(key);
      return cached;
    }
    return mine.object;
  }
}
