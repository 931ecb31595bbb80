// FleetView: ONE FleetIndex for the whole operator, kept current from the ProviderNode, Node and Pod
// informers, event by event (never rebuilt), plus the small bookkeeping the InferencePool reconciler
// needs around it.
//
// A node is in the index when both its Node and its ProviderNode exist. It is schedulable iff the
// ProviderNode has Attested=True and not Quarantined=True, its spec is not cordoned, and the Node is
// not unschedulable. That is the only gate: replicas are bound directly by the operator, so Node
// taints (chrysalis.dev/unattested included) are never consulted and never tolerated.
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
import type { ProviderNode, ProviderNodeStatusAttestedReplica } from '../../api/index.js';
import { attestedReplicaEntry } from '../../attestation/service/replica-keys.js';
import { FleetIndex, isSchedulable, type NodeCapacity, type TeeType } from '../../placement/index.js';
import type { Informer } from '../../kube/informer.js';
import type { KubeObject } from '../../kube/resource.js';
import { FIELD_MANAGER, LABEL_POOL } from '../../marks.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import type { NodeHealth } from './plan.js';

/** `namespace/name` of an InferencePool: the placement engine's pool id and the view's pool key. */
export type PoolKey = string;

export function poolKey(namespace: string, name: string): PoolKey {
  return `${namespace}/${name}`;
}

interface ProviderInfo {
  name: string;
  tee: TeeType;
  gpuModel: string;
  gpuCount: number;
  priceCoefficient: number;
  provider: string;
  attested: boolean;
  quarantined: boolean;
  cordoned: boolean;
  /** status.attestedReplicas: the replica keys and expiries the attestation service recorded. */
  attestedReplicas: ProviderNodeStatusAttestedReplica[];
}

interface NodeInfo {
  allocatableGpus: number;
  unschedulable: boolean;
}

/** A Pod's claim on a node's GPUs. */
interface PodClaim {
  node: string;
  gpus: number;
  pool?: PoolKey;
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
}

type PoolListener = (pool: PoolKey) => void;

export class FleetView {
  readonly index = new FleetIndex();
  private readonly gpuResourceName: string;
  private readonly log: Logger;
  private readonly nodes = new Map<string, NodeInfo>();
  /** Node name → ProviderNodes naming it (normally exactly one). */
  private readonly providersByNode = new Map<string, Map<string, ProviderInfo>>();
  /** ProviderNode name → the node it named, to follow deletes. */
  private readonly nodeOfProvider = new Map<string, string>();
  /** `ns/pod` → its claim, for bound non-terminated Pods. */
  private readonly claims = new Map<string, PodClaim>();
  private readonly claimsByNode = new Map<string, Map<string, PodClaim>>();
  /** `ns/pod` → assumption, for placed replicas not yet seen bound. */
  private readonly assumed = new Map<string, Assumption>();
  private readonly assumedGpusByNode = new Map<string, number>();
  /** Pool → its assumptions, so a reconcile looks at its own pool's only. */
  private readonly assumedByPool = new Map<PoolKey, Map<string, Assumption>>();
  /** Pool → names of its replica Pods (by the chrysalis.dev/pool label) in the Pod cache. */
  private readonly podsByPool = new Map<PoolKey, Set<string>>();
  /** Uids of Pods this process deleted whose deletion the cache has not shown yet. */
  private readonly deleting = new Set<string>();
  /** Pools whose last reconcile left replicas unplaced: retried when capacity appears. */
  private readonly waiting = new Set<PoolKey>();
  private readonly listeners: PoolListener[] = [];
  private pods: Informer<KubeObject> | undefined;

  constructor(options: FleetViewOptions) {
    this.gpuResourceName = options.gpuResourceName;
    this.log = options.logger ?? silentLogger();
  }

  /** Called with a pool whenever something it depends on changed (its Pods, its nodes, capacity). */
  onPoolChanged(fn: PoolListener): this {
    this.listeners.push(fn);
    return this;
  }

  attach(providerNodes: Informer<ProviderNode & KubeObject>, nodes: Informer<KubeObject>, pods: Informer<KubeObject>): this {
    this.pods = pods;
    providerNodes
      .onAdd((pn) => this.upsertProviderNode(trimManagedFields(pn)))
      .onUpdate((_old, pn) => this.upsertProviderNode(trimManagedFields(pn)))
      .onDelete((pn) => this.removeProviderNode(pn.metadata.name ?? ''));
    nodes
      .onAdd((n) => this.upsertNode(trimManagedFields(n, FIELD_MANAGER)))
      .onUpdate((_old, n) => this.upsertNode(trimManagedFields(n, FIELD_MANAGER)))
      .onDelete((n) => this.removeNode(n.metadata?.name ?? ''));
    pods
      .onAdd((p) => this.upsertPod(slimPod(p)))
      .onUpdate((_old, p) => this.upsertPod(slimPod(p)))
      .onDelete((p) => this.removePod(p));
    return this;
  }

  /**
   * Fills the view from lists instead of informers (the CLI's dry run, tests): the same rules, applied
   * to a snapshot.
   */
  load(snapshot: { providerNodes?: Iterable<ProviderNode>; nodes?: Iterable<KubeObject>; pods?: Iterable<KubeObject> }): this {
    for (const n of snapshot.nodes ?? []) this.upsertNode(n);
    for (const pn of snapshot.providerNodes ?? []) this.upsertProviderNode(pn);
    for (const p of snapshot.pods ?? []) this.upsertPod(p);
    return this;
  }

  // ---- what the reconciler asks --------------------------------------------------------------------

  /** Whether replicas on `node` may stay: the Node and its ProviderNode exist and it is not quarantined. */
  nodeHealth(node: string): NodeHealth {
    if (!this.nodes.has(node)) return 'gone';
    const providers = this.providersByNode.get(node);
    if (providers === undefined || providers.size === 0) return 'gone';
    for (const p of providers.values()) if (p.quarantined) return 'quarantined';
    return 'ok';
  }

  /**
   * When the replica Pod's attestation lapses, as the attestation service recorded it in its host's
   * ProviderNode status (never Pod metadata, which anyone who may patch the Pod can write); undefined
   * when there is no record for this Pod (name and uid), or several ProviderNodes claim its node.
   */
  attestationExpiry(pod: KubeObject): Date | undefined {
    const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    const providers = node === undefined ? undefined : this.providersByNode.get(node);
    if (node === undefined || providers?.size !== 1) return undefined;
    const p = providers.values().next().value as ProviderInfo;
    const entry = attestedReplicaEntry({ spec: { nodeName: node }, status: { attestedReplicas: p.attestedReplicas } }, pod);
    const t = entry ? Date.parse(entry.expiresAt) : Number.NaN;
    return Number.isNaN(t) ? undefined : new Date(t);
  }

  providerOf(node: string): string | undefined {
    return this.index.node(node)?.provider;
  }

  teeOf(node: string): TeeType | undefined {
    return this.index.node(node)?.tee;
  }

  /** GPU models offered by schedulable nodes (a pool with no gpuModels accepts any of them). */
  gpuModels(): string[] {
    const models = new Set<string>();
    for (const group of this.index.groups()) models.add(group.gpuModel);
    return [...models].sort();
  }

  /** The pool's replica Pods as the cache has them. */
  replicaPods(pool: PoolKey): KubeObject[] {
    const names = this.podsByPool.get(pool);
    if (!names || !this.pods) return [];
    const namespace = pool.slice(0, pool.indexOf('/'));
    const out: KubeObject[] = [];
    for (const name of names) {
      const pod = this.pods.get(namespace, name);
      if (pod) out.push(pod);
    }
    return out;
  }

  /** Replicas of the pool this process placed that the cache does not show yet. */
  unseenAssumptions(pool: PoolKey): Assumption[] {
    const out: Assumption[] = [];
    for (const a of this.assumedByPool.get(pool)?.values() ?? []) {
      if (this.pods?.get(a.namespace, a.name) === undefined) out.push(a);
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
    this.assumedGpusByNode.set(a.node, (this.assumedGpusByNode.get(a.node) ?? 0) + a.gpus);
    let ofPool = this.assumedByPool.get(a.pool);
    if (!ofPool) this.assumedByPool.set(a.pool, (ofPool = new Map()));
    ofPool.set(key, a);
  }

  /** Gives back an assumption whose create or bind did not happen. */
  unassume(namespace: string, name: string): void {
    const a = this.dropAssumption(`${namespace}/${name}`);
    if (a) this.recompute(a.node);
  }

  get assumedCount(): number {
    return this.assumed.size;
  }

  // ---- informer events -----------------------------------------------------------------------------

  private upsertProviderNode(pn: ProviderNode): void {
    const name = pn.metadata.name;
    if (!name) return;
    const conditions = pn.status?.conditions ?? [];
    const info: ProviderInfo = {
      name,
      // The TEE the evidence proved: simulated evidence never stands for the hardware TEE a spec declares.
      tee: pn.status?.attestation?.simulated === true ? 'simulated' : pn.spec.tee,
      gpuModel: pn.spec.gpus.model,
      gpuCount: pn.spec.gpus.count,
      priceCoefficient: pn.spec.priceCoefficient ?? 1000,
      provider: pn.spec.payoutAddress,
      attested: conditions.some((c) => c.type === 'Attested' && c.status === 'True'),
      quarantined: conditions.some((c) => c.type === 'Quarantined' && c.status === 'True'),
      cordoned: pn.spec.cordoned === true,
      attestedReplicas: pn.status?.attestedReplicas ?? [],
    };
    const previousNode = this.nodeOfProvider.get(name);
    // A new or lapsed replica attestation changes whether its pool counts it: wake the pools on the node.
    const before = this.providersByNode.get(pn.spec.nodeName)?.get(name)?.attestedReplicas;
    if (before !== undefined && JSON.stringify(before) !== JSON.stringify(info.attestedReplicas)) {
      for (const claim of this.claimsByNode.get(pn.spec.nodeName)?.values() ?? []) if (claim.pool) this.notify(claim.pool);
    }
    if (previousNode !== undefined && previousNode !== pn.spec.nodeName) this.removeProviderNode(name);
    this.nodeOfProvider.set(name, pn.spec.nodeName);
    let providers = this.providersByNode.get(pn.spec.nodeName);
    if (!providers) this.providersByNode.set(pn.spec.nodeName, (providers = new Map()));
    providers.set(name, info);
    this.nodeChanged(pn.spec.nodeName);
  }

  private removeProviderNode(name: string): void {
    const node = this.nodeOfProvider.get(name);
    if (node === undefined) return;
    this.nodeOfProvider.delete(name);
    const providers = this.providersByNode.get(node);
    providers?.delete(name);
    if (providers?.size === 0) this.providersByNode.delete(node);
    this.nodeChanged(node);
  }

  private upsertNode(n: KubeObject): void {
    const name = n.metadata?.name;
    if (!name) return;
    const status = n.status as { allocatable?: Record<string, string> } | undefined;
    const spec = n.spec as { unschedulable?: boolean } | undefined;
    const raw = status?.allocatable?.[this.gpuResourceName];
    let allocatableGpus = 0;
    if (raw !== undefined) {
      allocatableGpus = Number(raw);
      if (!Number.isInteger(allocatableGpus) || allocatableGpus < 0) {
        // Extended resources are whole numbers; anything else is not a GPU count we can place on.
        this.log.warn('node allocatable GPUs is not a whole number; treating the node as having none', { node: name, value: raw });
        allocatableGpus = 0;
      }
    }
    this.nodes.set(name, { allocatableGpus, unschedulable: spec?.unschedulable === true });
    this.nodeChanged(name);
  }

  private removeNode(name: string): void {
    if (!this.nodes.delete(name)) return;
    this.nodeChanged(name);
  }

  private upsertPod(pod: KubeObject): void {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (!namespace || !name) return;
    const key = `${namespace}/${name}`;
    const pool = pod.metadata?.labels?.[LABEL_POOL];
    const poolOfPod = pool !== undefined ? poolKey(namespace, pool) : undefined;
    if (poolOfPod !== undefined) {
      let names = this.podsByPool.get(poolOfPod);
      if (!names) this.podsByPool.set(poolOfPod, (names = new Set()));
      names.add(name);
    }
    if (pod.metadata?.deletionTimestamp && pod.metadata.uid) this.deleting.delete(pod.metadata.uid);

    const spec = pod.spec as { nodeName?: string } | undefined;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    const node = spec?.nodeName;
    const terminated = phase === 'Succeeded' || phase === 'Failed';
    const touched = new Set<string>();
    // Once the cache shows the Pod bound, the assumption has become a claim.
    if (node) {
      const a = this.dropAssumption(key);
      if (a) touched.add(a.node);
    }
    const old = this.claims.get(key);
    const claim: PodClaim | undefined = node && !terminated ? { node, gpus: podGpus(pod, this.gpuResourceName), pool: poolOfPod } : undefined;
    if (old && (!claim || old.node !== claim.node || old.gpus !== claim.gpus)) {
      this.removeClaim(key, old);
      touched.add(old.node);
    }
    if (claim && (!old || old.node !== claim.node || old.gpus !== claim.gpus)) {
      this.addClaim(key, claim);
      touched.add(claim.node);
    }
    for (const n of touched) this.recompute(n);
  }

  private removePod(pod: KubeObject): void {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (!namespace || !name) return;
    const key = `${namespace}/${name}`;
    if (pod.metadata?.uid) this.deleting.delete(pod.metadata.uid);
    const pool = pod.metadata?.labels?.[LABEL_POOL];
    const poolOfPod = pool !== undefined ? poolKey(namespace, pool) : undefined;
    if (poolOfPod !== undefined) {
      const names = this.podsByPool.get(poolOfPod);
      names?.delete(name);
      if (names?.size === 0) this.podsByPool.delete(poolOfPod);
    }
    const touched = new Set<string>();
    const a = this.dropAssumption(key);
    if (a) touched.add(a.node);
    const old = this.claims.get(key);
    if (old) {
      this.removeClaim(key, old);
      touched.add(old.node);
    }
    for (const n of touched) this.recompute(n);
  }

  // ---- bookkeeping ---------------------------------------------------------------------------------

  private addClaim(key: string, claim: PodClaim): void {
    this.claims.set(key, claim);
    let onNode = this.claimsByNode.get(claim.node);
    if (!onNode) this.claimsByNode.set(claim.node, (onNode = new Map()));
    onNode.set(key, claim);
  }

  private removeClaim(key: string, claim: PodClaim): void {
    this.claims.delete(key);
    const onNode = this.claimsByNode.get(claim.node);
    onNode?.delete(key);
    if (onNode?.size === 0) this.claimsByNode.delete(claim.node);
  }

  private dropAssumption(key: string): Assumption | undefined {
    const a = this.assumed.get(key);
    if (!a) return undefined;
    this.assumed.delete(key);
    const ofPool = this.assumedByPool.get(a.pool);
    ofPool?.delete(key);
    if (ofPool?.size === 0) this.assumedByPool.delete(a.pool);
    const left = (this.assumedGpusByNode.get(a.node) ?? 0) - a.gpus;
    if (left > 0) this.assumedGpusByNode.set(a.node, left);
    else this.assumedGpusByNode.delete(a.node);
    return a;
  }

  /** A Node or ProviderNode changed: recompute it, and wake the pools it concerns. */
  private nodeChanged(node: string): void {
    const health = this.nodeHealth(node);
    this.recompute(node);
    if (health !== 'ok') {
      // Replicas on a lost or quarantined node must be replaced: wake their pools.
      for (const claim of this.claimsByNode.get(node)?.values() ?? []) if (claim.pool) this.notify(claim.pool);
      for (const a of this.assumed.values()) if (a.node === node) this.notify(a.pool);
    }
  }

  /** Brings the index's entry for `node` to what the sources say. */
  private recompute(node: string): void {
    const info = this.nodes.get(node);
    const providers = this.providersByNode.get(node);
    const before = this.index.node(node);
    if (!info || !providers || providers.size === 0) {
      this.index.removeNode(node);
      return;
    }
    if (providers.size > 1) {
      // Two ProviderNodes claim one Node: which attestation speaks for it is unknowable. Fail closed.
      this.log.warn('several ProviderNodes name one Node; not placing on it', { node, providerNodes: [...providers.keys()] });
      this.index.removeNode(node);
      return;
    }
    const p = providers.values().next().value as ProviderInfo;
    const total = Math.min(info.allocatableGpus, p.gpuCount);
    let used = this.assumedGpusByNode.get(node) ?? 0;
    for (const c of this.claimsByNode.get(node)?.values() ?? []) used += c.gpus;
    const capacity: NodeCapacity = {
      name: node,
      provider: p.provider,
      tee: p.tee,
      gpuModel: p.gpuModel,
      gpuTotal: total,
      // Pods outside Chrysalis (or a shrunk allocatable) can take more than the total; none is free then.
      gpuFree: Math.max(0, total - used),
      priceCoefficient: p.priceCoefficient,
      attested: p.attested,
      quarantined: p.quarantined,
      cordoned: p.cordoned || info.unschedulable,
    };
    if (before && sameCapacity(before, capacity)) return;
    this.index.upsertNode(capacity);
    const gained = isSchedulable(capacity) && capacity.gpuFree > 0 &&
      (!before || !isSchedulable(before) || capacity.gpuFree > before.gpuFree || capacity.priceCoefficient !== before.priceCoefficient);
    if (gained) for (const pool of this.waiting) this.notify(pool);
  }

  private notify(pool: PoolKey): void {
    for (const fn of this.listeners) fn(pool);
  }
}

function sameCapacity(a: NodeCapacity, b: NodeCapacity): boolean {
  return a.provider === b.provider && a.tee === b.tee && a.gpuModel === b.gpuModel && a.gpuTotal === b.gpuTotal &&
    a.gpuFree === b.gpuFree && a.priceCoefficient === b.priceCoefficient && a.attested === b.attested &&
    a.quarantined === b.quarantined && a.cordoned === b.cordoned;
}

/**
 * Trims metadata.managedFields of an object the informer just cached, in place, to the entries of
 * `keepManager` (none when not given). Every Pod, Node and ProviderNode in the cluster is cached, and
 * managedFields — nested field sets of every writer: the creator, the kubelet's status, the
 * controller-manager — are ~40% of a Pod's JSON and two thirds of its heap (16 KB per bound replica
 * with them, 6 KB without; 125 MB of the 2,000-node benchmark's 8,000 replicas). The operator reads
 * only its own entries, and only on Nodes (the ProviderNode controller asks whether it set
 * spec.unschedulable), so Nodes keep those; its writes never send managedFields back (an absent list
 * leaves the apiserver's as it is). In place because the informer has no transform hook: that hook,
 * applied before caching, is where this belongs once the kube layer has one.
 */
function trimManagedFields<T extends KubeObject>(obj: T, keepManager?: string): T {
  const fields = obj.metadata?.managedFields;
  if (!fields) return obj;
  const kept = keepManager ? fields.filter((f) => f.manager === keepManager) : [];
  if (kept.length) (obj.metadata as NonNullable<KubeObject['metadata']>).managedFields = kept;
  else delete obj.metadata?.managedFields;
  return obj;
}

/**
 * Cuts a Pod the informer just cached down, in place, to what the operator reads from cached Pods:
 * metadata without managedFields (names, uid, resourceVersion, labels, annotations, owners, deletion),
 * spec.nodeName and schedulerName, each container's name and resources (GPU requests), and
 * status.phase and conditions (the readiness gate, Ready). Every Pod in the cluster is cached, because
 * placement must see every GPU taken, and the rest of a Pod — environment, volumes, security contexts,
 * container statuses — is most of its heap (a replica: ~6 KB cached whole, a third of that slimmed;
 * other workloads' Pods are often far larger). The readers: this view, the InferencePool reconciler
 * (observePod, the gate flip, which rewrites status.conditions whole and keeps them whole here) and the
 * ProviderNode controller (replicas on a node, to evict). The attestation service reads Pods from the
 * API, not from this cache. In place because the informer has no transform hook (see trimManagedFields).
 */
function slimPod(pod: KubeObject): KubeObject {
  trimManagedFields(pod);
  const spec = pod.spec as { nodeName?: string; schedulerName?: string; containers?: Array<{ name: string } & ContainerLike>; initContainers?: Array<{ name: string } & ContainerLike> } | undefined;
  if (spec) {
    const slimContainers = (list: Array<{ name: string } & ContainerLike> | undefined) =>
      list?.map((c) => ({ name: c.name, ...(c.resources ? { resources: c.resources } : {}) }));
    const containers = slimContainers(spec.containers);
    const initContainers = slimContainers(spec.initContainers);
    pod.spec = {
      ...(spec.nodeName !== undefined ? { nodeName: spec.nodeName } : {}),
      ...(spec.schedulerName !== undefined ? { schedulerName: spec.schedulerName } : {}),
      ...(containers ? { containers } : {}),
      ...(initContainers ? { initContainers } : {}),
    };
  }
  const status = pod.status as { phase?: string; conditions?: unknown[] } | undefined;
  if (status) {
    pod.status = {
      ...(status.phase !== undefined ? { phase: status.phase } : {}),
      ...(status.conditions !== undefined ? { conditions: status.conditions } : {}),
    };
  }
  return pod;
}

interface ContainerLike {
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** GPUs a Pod holds: the sum over its containers, or its largest init container if that is more. */
export function podGpus(pod: KubeObject, resourceName: string): number {
  const spec = pod.spec as { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined;
  const of = (c: ContainerLike) => {
    // Extended resources: requests default to limits and must equal them when both are set.
    const v = c.resources?.requests?.[resourceName] ?? c.resources?.limits?.[resourceName];
    const n = v === undefined ? 0 : Number(v);
    return Number.isInteger(n) && n > 0 ? n : 0;
  };
  let sum = 0;
  for (const c of spec?.containers ?? []) sum += of(c);
  let init = 0;
  for (const c of spec?.initContainers ?? []) init = Math.max(init, of(c));
  return Math.max(sum, init);
}
