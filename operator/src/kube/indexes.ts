// The cache indexes more than one reader asks for, defined once: a shared cache holds one index per
// name, and two readers registering the same function share it (Store.addIndexer).
import { LABEL_POOL } from '../marks.js';
import { cacheKey, type KubeObject } from './resource.js';
import type { Indexer } from './store.js';

/** Pods (and ProviderNodes) by spec.nodeName: what runs on a node, which ProviderNode names it. */
export const BY_NODE_NAME = 'spec.nodeName';
export const nodeNameOf: Indexer<KubeObject> = (obj) => (obj.spec as { nodeName?: string } | undefined)?.nodeName || undefined;

/** Replica Pods by their pool, as `namespace/pool` from the chrysalis.dev/pool label. */
export const BY_POOL = LABEL_POOL;
export const poolOf: Indexer<KubeObject> = (pod) => {
  const pool = pod.metadata?.labels?.[LABEL_POOL];
  const namespace = pod.metadata?.namespace;
  return pool !== undefined && namespace ? cacheKey(namespace, pool) : undefined;
};
