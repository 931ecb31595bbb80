// The cache an informer keeps: objects by key, each cut to the shape its readers need before it is
// kept (the transform), secondary indexes that stay equal to the objects (ProviderNodes by node name,
// Pods by pool), and the handlers told of every change. The informer fills it from list + watch; the
// CLI's dry run and tests fill it from lists. Handlers run after the object and its indexes are in, so a
// handler that asks an index sees the change it is told of.
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { cacheKey, cacheKeyOf, type KubeObject } from './resource.js';

/**
 * Cuts an object down to what the process reads, before it is cached. It may change its argument in
 * place and return it (the cache owns what it is given): every Pod of a cluster is cached, and a copy
 * per event would double what slimming saves.
 */
export type Transform<T> = (obj: T) => T;

/** The values an object is found under in one index (none: not in that index). */
export type Indexer<T> = (obj: T) => string | readonly string[] | undefined;

type AddHandler<T> = (obj: T) => void;
type UpdateHandler<T> = (oldObj: T, newObj: T) => void;
type DeleteHandler<T> = (obj: T) => void;

export interface StoreOptions<T> {
  transform?: Transform<T>;
  logger?: Logger;
}

export class Store<T extends KubeObject = KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly indexers = new Map<string, Indexer<T>>();
  /** Index name → value → keys of the objects under that value. */
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly adds: AddHandler<T>[] = [];
  private readonly updates: UpdateHandler<T>[] = [];
  private readonly deletes: DeleteHandler<T>[] = [];
  /** Applied to every object before it is cached. */
  readonly transform: Transform<T> | undefined;
  protected readonly log: Logger;

  constructor(options: StoreOptions<T> = {}) {
    this.transform = options.transform;
    this.log = options.logger ?? silentLogger();
  }

  onAdd(fn: AddHandler<T>): this { this.adds.push(fn); return this; }
  onUpdate(fn: UpdateHandler<T>): this { this.updates.push(fn); return this; }
  onDelete(fn: DeleteHandler<T>): this { this.deletes.push(fn); return this; }

  /**
   * Adds an index, built at once over what is cached. Several readers of one shared cache may ask for
   * the same index: the same name with the same function is one index; with another function, an error.
   */
  addIndexer(name: string, indexer: Indexer<T>): this {
    const existing = this.indexers.get(name);
    if (existing === indexer) return this;
    if (existing) throw new Error(`index ${name} is already defined differently on this cache`);
    this.indexers.set(name, indexer);
    const index = new Map<string, Set<string>>();
    this.indexes.set(name, index);
    for (const [key, obj] of this.objects) addTo(index, valuesOf(indexer, obj), key);
    return this;
  }

  list(): T[] { return [...this.objects.values()]; }
  get size(): number { return this.objects.size; }
  get(namespace: string | undefined, name: string): T | undefined { return this.objects.get(cacheKey(namespace, name)); }
  getByKey(key: string): T | undefined { return this.objects.get(key); }

  /** The cached objects under `value` in index `name`. */
  byIndex(name: string, value: string): T[] {
    const keys = this.indexOf(name).get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const key of keys) out.push(this.objects.get(key) as T);
    return out;
  }

  /** How many cached objects are under `value` in index `name`. */
  countByIndex(name: string, value: string): number {
    return this.indexOf(name).get(value)?.size ?? 0;
  }

  /** Caches `obj` (transformed) and tells the add or update handlers. */
  put(obj: T): void {
    const cached = this.transform ? this.transform(obj) : obj;
    const key = cacheKeyOf(cached);
    const old = this.store(key, cached);
    if (old) this.emitUpdate(old, cached);
    else this.emitAdd(cached);
  }

  /** Drops the object with `obj`'s key and tells the delete handlers (of the cached copy if there was one). */
  remove(obj: T): void {
    const key = cacheKeyOf(obj);
    const old = this.objects.get(key);
    if (old) this.unstore(key, old);
    this.emitDelete(old ?? (this.transform ? this.transform(obj) : obj));
  }

  /**
   * Brings the cache to a complete snapshot (a relist), telling the handlers of each difference: adds,
   * deletes, and updates of objects whose resourceVersion moved. `transformed`: the snapshot's objects
   * already passed the transform (an informer cuts each page down as it arrives, so a relist never holds
   * a whole cluster's objects whole).
   */
  replace(snapshot: Iterable<T>, transformed = false): void {
    const seen = new Set<string>();
    for (const item of snapshot) {
      const obj = this.transform && !transformed ? this.transform(item) : item;
      const key = cacheKeyOf(obj);
      seen.add(key);
      const old = this.store(key, obj);
      if (!old) this.emitAdd(obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emitUpdate(old, obj);
    }
    for (const [key, old] of [...this.objects]) {
      if (seen.has(key)) continue;
      this.unstore(key, old);
      this.emitDelete(old);
    }
  }

  private indexOf(name: string): Map<string, Set<string>> {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index ${name} on this cache`);
    return index;
  }

  /** Sets `key` to `obj` in the map and every index; returns what was there. */
  private store(key: string, obj: T): T | undefined {
    const old = this.objects.get(key);
    this.objects.set(key, obj);
    for (const [name, indexer] of this.indexers) {
      const index = this.indexes.get(name) as Map<string, Set<string>>;
      const before = old ? valuesOf(indexer, old) : [];
      const after = valuesOf(indexer, obj);
      if (before.length === after.length && before.every((v, i) => v === after[i])) continue;
      removeFrom(index, before, key);
      addTo(index, after, key);
    }
    return old;
  }

  private unstore(key: string, old: T): void {
    this.objects.delete(key);
    for (const [name, indexer] of this.indexers) removeFrom(this.indexes.get(name) as Map<string, Set<string>>, valuesOf(indexer, old), key);
  }

  private emitAdd(obj: T): void { for (const h of this.adds) this.safely(() => h(obj)); }
  private emitUpdate(old: T, obj: T): void { for (const h of this.updates) this.safely(() => h(old, obj)); }
  private emitDelete(obj: T): void { for (const h of this.deletes) this.safely(() => h(obj)); }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A broken handler must not stop the cache from following the server.
      this.log.error('informer handler threw', { error: String(err) });
    }
  }
}

function valuesOf<T>(indexer: Indexer<T>, obj: T): readonly string[] {
  const v = indexer(obj);
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

function addTo(index: Map<string, Set<string>>, values: readonly string[], key: string): void {
  for (const v of values) {
    let keys = index.get(v);
    if (!keys) index.set(v, (keys = new Set()));
    keys.add(key);
  }
}

function removeFrom(index: Map<string, Set<string>>, values: readonly string[], key: string): void {
  for (const v of values) {
    const keys = index.get(v);
    keys?.delete(key);
    if (keys?.size === 0) index.delete(v);
  }
}
