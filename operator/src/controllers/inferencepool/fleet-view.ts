// FleetView: ONE FleetIndex for the whole operator, kept current from the ProviderNode, Node and Pod
// informers, event by event (never rebuilt), plus the small bookkeeping the InferencePool reconciler
// needs around it. What the caches already know (which ProviderNodes name a node, which Pods run on it,
// which Pods belong to a pool) it asks their indexes; it keeps only what no cache holds: assumptions,
// Pods being deleted, pools waiting for capacity.
//
// A node is in the index when both its Node and its ProviderNode exist. It is schedulable iff the
// ProviderNode's attestation holds now (attested-now.ts: Attested=True and its expiresAt ahead) and it is
// not Quarantined=True, its spec is not cordoned, and the Node is not unschedulable. The expiry is read
// here, not left to the ProviderNode controller's condition, because that condition turns False only when
// the controller reconciles the node, which at fleet scale can be minutes after the expiry; a timer at
// each attested node's expiry recomputes it then, with no event to wake it. That is the only gate:
// replicas are bound directly by the operator, so Node taints (chrysalis.dev/unattested included) are
// never consulted and never tolerated.
//
// GPUs: total = min(Node allocatable[gpuResourceName], ProviderNode spec.gpus.count); free = total −
// GPUs requested by non-terminated Pods bound to the node − GPUs "assumed" for replicas the operator
// has placed but whose binding the Pod informer has not shown yet. The assumption is what keeps two
// reconciles (or one reconcile and a stale cache) from giving the same GPUs away twice: the plan
// allocates in the index at once, the assumption remembers why, and it turns into an ordinary bound-Pod
// count when the informer shows the Pod on its node. When a create or bind fails, `unassume` gives the
// GPUs back (the same effect as FleetIndex.release, computed from the sources so the two cannot drift).
//
// Pods being deleted still hold their GPUs (as kube-scheduler counts them) until they are gone.
import type { ProviderNode } from '../../api/index.js';
import { attestedNow } from '../../attestation/attested-now.js';
import { attestedReplicaEntry } from '../../attestation/service/replica-keys.js';
import { BY_NODE_NAME, BY_POOL, nodeNameOf, poolOf } from '../../kube/indexes.js';
import type { KubeObject } from '../../kube/resource.js';
import { Store } from '../../kube/store.js';
import { FleetIndex, isSchedulable, podGpus, type NodeCapacity, type TeeType } from '../../placement/index.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { NodeHealth } from './plan.js';

/** `namespace/name` of an InferencePool: the placement engine's pool id and the view's pool key. */
export type PoolKey = string;

export function poolKey(namespace: string, name: string): PoolKey {
  return `${namespace}/${name}`;
}

export interface Assumption {
  pool: PoolKey;
  namespace: string;
  name: string;
  node: string;
  gpus: number;
  tee: TeeType;
}

export interface FleetViewOptions {
  gpuResourceName: string;
  logger?: Logger;
  /** The clock attestation expiries are judged by (tests pin it). */
  now?: () => Date;
}

/**
 * The longest a node's expiry timer is set for: setTimeout takes at most 2^31 − 1 ms (24.8 days) and fires
 * at once beyond it, so a farther expiry is looked at again after a day and its timer set anew.
 */
const MAX_EXPIRY_TIMER_MS = 24 * 3600 * 1000;

type PoolListener = (pool: PoolKey) => void;
type ProviderNodeObject = ProviderNode & KubeObject;

export class FleetView {
  readonly index = new FleetIndex();
  private readonly gpuResourceName: string;
  private readonly log: Logger;
  private providerNodes = new Store<ProviderNodeObject>();
  private nodes = new Store<KubeObject>();
  private pods = new Store<KubeObject>();
  /** `ns/pod` → assumption, for placed replicas not yet seen bound. */
  private readonly assumed = new Map<string, Assumption>();
  /** Node → its assumptions, and pool → its assumptions, so each question looks at its own only. */
  private readonly assumedByNode = new Map<string, Map<string, Assumption>>();
  private readonly assumedByPool = new Map<PoolKey, Map<string, Assumption>>();
  /** Uids of Pods this process deleted whose deletion the cache has not shown yet. */
  private readonly deleting = new Set<string>();
  /** Pools whose last reconcile left replicas unplaced: retried when capacity appears. */
  private readonly waiting = new Set<PoolKey>();
  private readonly listeners: PoolListener[] = [];
  private readonly now: () => Date;
  /** Node → the timer that recomputes it when its attestation expires (only nodes attested now). */
  private readonly expiryTimers = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(options: FleetViewOptions) {
    this.gpuResourceName = options.gpuResourceName;
    this.log = options.logger ?? silentLogger();
    this.now = options.now ?? (() => new Date());
  }

  /** Stops the expiry timers (they are unref'd, so they never keep a process alive either way). */
  close(): void {
    for (const { timer } of this.expiryTimers.values()) clearTimeout(timer);
    this.expiryTimers.clear();
  }

  /** Called with a pool whenever something it depends on changed (its Pods, its nodes, capacity). */
  onPoolChanged(fn: PoolListener): this {
    this.listeners.push(fn);
    return this;
  }

  /** Follows the caches (informers) of ProviderNodes, Nodes and Pods, adding the indexes it asks. */
  attach(providerNodes: Store<ProviderNodeObject>, nodes: Store<KubeObject>, pods: Store<KubeObject>): this {
    this.providerNodes = providerNodes.addIndexer(BY_NODE_NAME, nodeNameOf);
    this.nodes = nodes;
    this.pods = pods.addIndexer(BY_NODE_NAME, nodeNameOf).addIndexer(BY_POOL, poolOf);
    providerNodes
      .onAdd((pn) => this.nodeChanged(pn.spec.nodeName))
      .onUpdate((old, pn) => this.providerNodeUpdated(old, pn))
      .onDelete((pn) => this.nodeChanged(pn.spec.nodeName));
    nodes
      .onAdd((n) => this.nodeUpdated(n))
      .onUpdate((_old, n) => this.nodeUpdated(n))
      .onDelete((n) => this.nodeChanged(n.metadata?.name ?? ''));
    pods
      .onAdd((p) => this.podChanged(undefined, p))
      .onUpdate((old, p) => this.podChanged(old, p))
      .onDelete((p) => this.podChanged(p, undefined));
    return this;
  }

  /**
   * Fills the view from lists instead of informers (the CLI's dry run, tests): the same rules, applied
   * to a snapshot held in caches of its own.
   */
  load(snapshot: { providerNodes?: Iterable<ProviderNode>; nodes?: Iterable<KubeObject>; pods?: Iterable<KubeObject> }): this {
    const providerNodes = new Store<ProviderNodeObject>();
    const nodes = new Store<KubeObject>();
    const pods = new Store<KubeObject>();
    this.attach(providerNodes, nodes, pods);
    for (const n of snapshot.nodes ?? []) nodes.put(n);
    for (const pn of snapshot.providerNodes ?? []) providerNodes.put(pn as ProviderNodeObject);
    for (const p of snapshot.pods ?? []) pods.put(p);
    return this;
  }

  // ---- what the reconciler asks --------------------------------------------------------------------

  /** Whether replicas on `node` may stay: the Node and its ProviderNode exist and it is not quarantined. */
  nodeHealth(node: string): NodeHealth {
    if (!this.nodes.get(undefined, node)) return 'gone';
    const providers = this.providerNodes.byIndex(BY_NODE_NAME, node);
    if (providers.length === 0) return 'gone';
    return providers.some(isQuarantined) ? 'quarantined' : 'ok';
  }

  /**
   * When the replica Pod's attestation lapses, as the attestation service recorded it in its host's
   * ProviderNode status (never Pod metadata, which anyone who may patch the Pod can write); undefined
   * when there is no record for this Pod (name and uid), or several ProviderNodes claim its node.
   */
  attestationExpiry(pod: KubeObject): Date | undefined {
    const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    const providers = node === undefined ? [] : this.providerNodes.byIndex(BY_NODE_NAME, node);
    if (providers.length !== 1) return undefined;
    const entry = attestedReplicaEntry(providers[0], pod);
    const t = entry ? Date.parse(entry.expiresAt) : Number.NaN;
    return Number.isNaN(t) ? undefined : new Date(t);
  }

  /** Names of the ProviderNodes that claim `node` (one, normally). */
  providerNodeNames(node: string): string[] {
    return this.providerNodes.byIndex(BY_NODE_NAME, node).map((pn) => pn.metadata?.name as string);
  }

  providerOf(node: string): string | undefined {
    return this.index.node(node)?.provider;
  }

  teeOf(node: string): TeeType | undefined {
    return this.index.node(node)?.tee;
  }

  /** The topology the node's ProviderNode declares (the replica Pod's runtime class and TEE access follow it). */
  topologyOf(node: string): 'node-cvm' | 'pod-cvm' | undefined {
    const providers = this.providerNodes.byIndex(BY_NODE_NAME, node);
    return providers.length === 1 ? (providers[0] as ProviderNodeObject).spec.topology ?? 'node-cvm' : undefined;
  }

  /** GPU models offered by schedulable nodes (a pool with no gpuModels accepts any of them). */
  gpuModels(): string[] {
    const models = new Set<string>();
    for (const group of this.index.groups()) models.add(group.gpuModel);
    return [...models].sort();
  }

  /** The pool's replica Pods as the cache has them. */
  replicaPods(pool: PoolKey): KubeObject[] {
    return this.pods.byIndex(BY_POOL, pool);
  }

  /** Replicas of the pool this process placed that the cache does not show yet. */
  unseenAssumptions(pool: PoolKey): Assumption[] {
    const out: Assumption[] = [];
    for (const a of this.assumedByPool.get(pool)?.values() ?? []) {
      if (this.pods.get(a.namespace, a.name) === undefined) out.push(a);
    }
    return out;
  }

  /** The node a replica was placed on by this process, while the cache does not show it bound yet. */
  assumedNode(namespace: string, name: string): string | undefined {
    return this.assumed.get(`${namespace}/${name}`)?.node;
  }

  isDeleting(uid: string): boolean {
    return this.deleting.has(uid);
  }

  markDeleting(uid: string): void {
    // Only while the cache still has a live Pod with this uid; otherwise the delete event has been seen.
    this.deleting.add(uid);
  }

  setWaiting(pool: PoolKey, waiting: boolean): void {
    if (waiting) this.waiting.add(pool);
    else this.waiting.delete(pool);
  }

  /** Records GPUs the plan already allocated in the index for a replica about to be created/bound. */
  assume(a: Assumption): void {
    const key = `${a.namespace}/${a.name}`;
    if (this.assumed.has(key)) throw new Error(`replica ${key} is already assumed on ${this.assumed.get(key)?.node}`);
    this.assumed.set(key, a);
    addTo(this.assumedByNode, a.node, key, a);
    addTo(this.assumedByPool, a.pool, key, a);
  }

  /** Gives back an assumption whose create or bind did not happen. */
  unassume(namespace: string, name: string): void {
    const a = this.dropAssumption(`${namespace}/${name}`);
    if (a) this.recompute(a.node);
  }

  get assumedCount(): number {
    return this.assumed.size;
  }

  // ---- cache events --------------------------------------------------------------------------------

  private providerNodeUpdated(old: ProviderNodeObject, pn: ProviderNodeObject): void {
    if (old.spec.nodeName !== pn.spec.nodeName) this.nodeChanged(old.spec.nodeName);
    // A new or lapsed replica attestation changes whether its pool counts it: wake the pools on the node.
    else if (JSON.stringify(old.status?.attestedReplicas ?? []) !== JSON.stringify(pn.status?.attestedReplicas ?? [])) {
      for (const pod of this.podsHolding(pn.spec.nodeName)) this.notifyPoolOf(pod);
    }
    this.nodeChanged(pn.spec.nodeName);
  }

  private nodeUpdated(n: KubeObject): void {
    const name = n.metadata?.name;
    if (!name) return;
    const raw = (n.status as { allocatable?: Record<string, string> } | undefined)?.allocatable?.[this.gpuResourceName];
    if (raw !== undefined && !isGpuCount(Number(raw))) {
      // Extended resources are whole numbers; anything else is not a GPU count we can place on.
      this.log.warn('node allocatable GPUs is not a whole number; treating the node as having none', { node: name, value: raw });
    }
    this.nodeChanged(name);
  }

  /** A Pod was added (old undefined), changed, or deleted (pod undefined). */
  private podChanged(old: KubeObject | undefined, pod: KubeObject | undefined): void {
    const current = pod ?? old;
    const namespace = current?.metadata?.namespace;
    const name = current?.metadata?.name;
    if (!namespace || !name) return;
    const uid = current?.metadata?.uid;
    if (uid && (pod === undefined || pod.metadata?.deletionTimestamp)) this.deleting.delete(uid);
    const touched = new Set<string>();
    // Once the cache shows the Pod bound (or gone), the assumption has become a claim (or nothing).
    if (pod === undefined || nodeNameOf(pod) !== undefined) {
      const a = this.dropAssumption(`${namespace}/${name}`);
      if (a) touched.add(a.node);
    }
    const before = old && this.claimOf(old);
    const after = pod && this.claimOf(pod);
    if (before?.node !== after?.node || before?.gpus !== after?.gpus) {
      if (before) touched.add(before.node);
      if (after) touched.add(after.node);
    }
    for (const n of touched) this.recompute(n);
  }

  // ---- bookkeeping ---------------------------------------------------------------------------------

  /** A Pod's claim on a node's GPUs: bound and not terminated. */
  private claimOf(pod: KubeObject): { node: string; gpus: number } | undefined {
    const node = nodeNameOf(pod) as string | undefined;
    return node !== undefined && !isTerminated(pod) ? { node, gpus: podGpus(pod, this.gpuResourceName) } : undefined;
  }

  /** The Pods holding GPUs on `node`: bound to it and not terminated (being deleted still holds them). */
  private podsHolding(node: string): KubeObject[] {
    return this.pods.byIndex(BY_NODE_NAME, node).filter((p) => !isTerminated(p));
  }

  private notifyPoolOf(pod: KubeObject): void {
    const pool = poolOf(pod) as string | undefined;
    if (pool !== undefined) this.notify(pool);
  }

  private dropAssumption(key: string): Assumption | undefined {
    const a = this.assumed.get(key);
    if (!a) return undefined;
    this.assumed.delete(key);
    removeFrom(this.assumedByNode, a.node, key);
    removeFrom(this.assumedByPool, a.pool, key);
    return a;
  }

  /** A Node or ProviderNode changed: recompute it, and wake the pools it concerns. */
  private nodeChanged(node: string): void {
    const health = this.nodeHealth(node);
    this.recompute(node);
    if (health !== 'ok') {
      // Replicas on a lost or quarantined node must be replaced: wake their pools.
      for (const pod of this.podsHolding(node)) this.notifyPoolOf(pod);
      for (const a of this.assumedByNode.get(node)?.values() ?? []) this.notify(a.pool);
    }
  }

  /** Brings the index's entry for `node` to what the sources say. */
  private recompute(node: string): void {
    const n = this.nodes.get(undefined, node);
    const providers = this.providerNodes.byIndex(BY_NODE_NAME, node);
    const before = this.index.node(node);
    if (!n || providers.length === 0) {
      this.setExpiryTimer(node, undefined);
      this.index.removeNode(node);
      return;
    }
    if (providers.length > 1) {
      // Two ProviderNodes claim one Node: which attestation speaks for it is unknowable. Fail closed.
      this.log.warn('several ProviderNodes name one Node; not placing on it', { node, providerNodes: providers.map((p) => p.metadata.name) });
      this.setExpiryTimer(node, undefined);
      this.index.removeNode(node);
      return;
    }
    const pn = providers[0] as ProviderNodeObject;
    const attested = attestedNow(pn, this.now());
    this.setExpiryTimer(node, attested ? Date.parse(pn.status!.attestation!.expiresAt!) : undefined);
    const total = Math.min(allocatableGpus(n, this.gpuResourceName), pn.spec.gpus.count);
    let used = 0;
    for (const a of this.assumedByNode.get(node)?.values() ?? []) used += a.gpus;
    for (const p of this.podsHolding(node)) used += podGpus(p, this.gpuResourceName);
    const capacity: NodeCapacity = {
      name: node,
      provider: pn.spec.payoutAddress,
      // The TEE the evidence proved: simulated evidence never stands for the hardware TEE a spec declares.
      tee: pn.status?.attestation?.simulated === true ? 'simulated' : pn.spec.tee,
      gpuModel: pn.spec.gpus.model,
      gpuTotal: total,
      // Pods outside Chrysalis (or a shrunk allocatable) can take more than the total; none is free then.
      gpuFree: Math.max(0, total - used),
      priceCoefficient: pn.spec.priceCoefficient ?? 1000,
      attested,
      quarantined: isQuarantined(pn),
      cordoned: pn.spec.cordoned === true || (n.spec as { unschedulable?: boolean } | undefined)?.unschedulable === true,
    };
    if (before && sameCapacity(before, capacity)) return;
    this.index.upsertNode(capacity);
    const gained = isSchedulable(capacity) && capacity.gpuFree > 0 &&
      (!before || !isSchedulable(before) || capacity.gpuFree > before.gpuFree || capacity.priceCoefficient !== before.priceCoefficient);
    if (gained) for (const pool of this.waiting) this.notify(pool);
  }

  /**
   * Keeps one timer per attested node, at its attestation's expiry (none when `at` is undefined): when it
   * fires the node is recomputed and, past the expiry, stops being schedulable.
   */
  private setExpiryTimer(node: string, at: number | undefined): void {
    const current = this.expiryTimers.get(node);
    if (current?.at === at) return;
    if (current) clearTimeout(current.timer);
    if (at === undefined) {
      this.expiryTimers.delete(node);
      return;
    }
    const delay = Math.min(Math.max(0, at - this.now().getTime()) + 1, MAX_EXPIRY_TIMER_MS);
    const timer = setTimeout(() => {
      this.expiryTimers.delete(node);
      this.nodeChanged(node);
    }, delay);
    timer.unref();
    this.expiryTimers.set(node, { at, timer });
  }

  private notify(pool: PoolKey): void {
    for (const fn of this.listeners) fn(pool);
  }
}

function isQuarantined(pn: ProviderNode): boolean {
  return (pn.status?.conditions ?? []).some((c) => c.type === 'Quarantined' && c.status === 'True');
}

function isTerminated(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Node allocatable GPUs; extended resources are whole numbers, and anything else counts as none. */
function allocatableGpus(node: KubeObject, resourceName: string): number {
  const raw = (node.status as { allocatable?: Record<string, string> } | undefined)?.allocatable?.[resourceName];
  const n = raw === undefined ? 0 : Number(raw);
  return isGpuCount(n) ? n : 0;
}

function isGpuCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

function addTo<K>(map: Map<K, Map<string, Assumption>>, k: K, key: string, a: Assumption): void {
  let inner = map.get(k);
  if (!inner) map.set(k, (inner = new Map()));
  inner.set(key, a);
}

function removeFrom<K>(map: Map<K, Map<string, Assumption>>, k: K, key: string): void {
  const inner = map.get(k);
  inner?.delete(key);
  if (inner?.size === 0) map.delete(k);
}

function sameCapacity(a: NodeCapacity, b: NodeCapacity): boolean {
  return a.provider === b.provider && a.tee === b.tee && a.gpuModel === b.gpuModel && a.gpuTotal === b.gpuTotal &&
    a.gpuFree === b.gpuFree && a.priceCoefficient === b.priceCoefficient && a.attested === b.attested &&
    a.quarantined === b.quarantined && a.cordoned === b.cordoned;
}
