// The cache indexes more than one reader asks for, defined once: a shared cache holds one index per
// name, and two readers registering the same function share it (Store.addIndexer).
import type { ProviderNode } from '../api/providernode.js';
import { policyNameOf } from '../controllers/providernode/plan.js';
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

/**
 * ProviderNodes by the AttestationPolicy they are verified against (policyNameOf: spec.policyRef.name,
 * or the operator's default policy name when it names none). The default is configuration, so the indexer is
 * made per default name, and the same default gives the same function (one index on a shared cache).
 */
export const BY_POLICY = 'spec.policyRef.name';
const policyIndexers = new Map<string, Indexer<ProviderNode & KubeObject>>();
export function policyNameIndexer(defaultPolicyName: string): Indexer<ProviderNode & KubeObject> {
  let indexer = policyIndexers.get(defaultPolicyName);
  if (!indexer) {
    indexer = (pn) => policyNameOf(pn, defaultPolicyName);
    policyIndexers.set(defaultPolicyName, indexer);
  }
  return indexer;
}
