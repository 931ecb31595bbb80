// The InferencePool reconciler: observe → plan → act, level-triggered.
//
//   observe  the pool and its replica Pods from the informer caches (through the FleetView), plus the
//            replicas this process placed or deleted that the caches do not show yet;
//   plan     planReplicas (pure, plan.ts) says what to delete, create, bind and un-gate; the placement
//            engine chooses nodes for the replicas that need one, in the one shared FleetIndex;
//   act      deletes (uid-preconditioned), routing-label removals (attested-label.ts) and only then
//            readiness-gate flips (pods/status, preconditioned on the resourceVersion planned from),
//            routing-label adds, creates of new replicas already bound to their node, and bindings
//            (pods/binding) of existing unbound replicas, the pool's Service and Gateway API InferencePool
//            (routing.ts), then the pool's status through the status subresource when it changed.
//
// Why a new replica is created bound (spec.nodeName) rather than created and then bound: the node is
// chosen before the Pod exists (the Pod's runtimeClass depends on that node's TEE), so a Binding would
// only write down, in a second request, a decision the create could carry. One write per replica
// instead of two halves what placement costs the apiserver — on a busy control plane that is the whole
// difference in how fast a large pool lands (the placement benchmark: 8,000 replicas in about half
// kube-scheduler's time, against about the same time with create-then-bind) — and the Pod is never
// observable unbound, holding GPUs in the index while running nowhere. Who placed it stays visible: the
// Pod names this scheduler (schedulerName). Kubernetes documents nodeName as the field for exactly this
// ("intended for use by custom schedulers"). A replica Pod that exists unbound (made by an earlier
// version of the operator, or by hand) is still bound through the Binding subresource, uid-preconditioned.
//
// One Event per reconcile, on the pool, says where the replicas went ("created 8 replicas bound by
// chrysalis: llama-0 on gpu-3, …"), not a `Scheduled` Event per Pod as kube-scheduler writes: that
// would be a second write per replica again, 8,000 Event creates for a fleet's cold start, for a fact
// the Pod's spec.nodeName and `kubectl describe inferencepool` already show.
//
// Every write goes through the fenced KubeClient/EventRecorder, so a process that lost its lease
// cannot write. A crash at any point leaves Pods that the next reconcile recognises by name: a create
// that already happened answers AlreadyExists (and the Pod is bound, or bound next time if it was made
// unbound), a bind that already happened answers Conflict.
import type { OperatorConfig } from '../../config.js';
import type { InferencePool, InferencePoolStatus } from '../../api/index.js';
import { jsonPointerSegment, type JsonPatchOperation, type KubeClient } from '../../kube/kube-client.js';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../kube/controller.js';
import type { EventRecorder, RecordedEvent } from '../../kube/events.js';
import type { Informer } from '../../kube/informer.js';
import { NotLeaderError } from '../../kube/leader-election.js';
import { OwnWrites } from '../../kube/own-writes.js';
import { parseObjectKey, Pods, type KubeObject } from '../../kube/resource.js';
import { isConflict, isNotFound, KubeApiError } from '../../kube/rest.js';
import { LABEL_REPLICA_ATTESTED, LABEL_REPLICA_ATTESTED_VALUE, LABEL_TEE, LABEL_TEMPLATE_HASH, READINESS_GATE_ATTESTED } from '../../marks.js';
import { DEFAULT_LABEL_LEAD_MS, planAttestedLabels } from './attested-label.js';
import type { PoolRouting } from './routing.js';
import { planPlacements, podGpus, type Placement, type ReplicaRequest, type TeeType } from '../../placement/index.js';
import { poolKey, type FleetView } from './fleet-view.js';
import { setCondition } from '../../kube/conditions.js';
import { DEFAULT_GATE_GRACE_MS, planReplicas, poolStatus, type ReplicaObservation } from './plan.js';
import { modelCheckOf } from './model-verified.js';
import { replicaTemplateHash } from './template-hash.js';
import { buildReplicaPod, gpusPerReplica, MAX_POOL_NAME_LENGTH, replicaIndexOf, replicaPodName } from './pod-builder.js';
import { InferencePools, ProviderNodes } from '../../kube/chrysalis-resources.js';
import type { ProviderNode } from '../../api/providernode.js';
import { attestedReplicaKey, type PodIdentity } from '../../attestation/service/replica-keys.js';
import { DEFAULT_MAX_IN_FLIGHT, RequestBudget } from './request-budget.js';

interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  [field: string]: unknown;
}

/** Events sent at once (the request budget lets at most as many through). */
const EVENT_SENDERS = 4;

const ALL_TEES: readonly TeeType[] = ['sev-snp', 'tdx', 'simulated'];
const DEFAULT_TEES: readonly TeeType[] = ['sev-snp', 'tdx'];

export interface InferencePoolReconcilerDeps {
  client: KubeClient;
  events: EventRecorder;
  view: FleetView;
  pools: Informer<InferencePool & KubeObject>;
  config: OperatorConfig;
  now?: () => Date;
  /** How long a True gate without an expiry annotation is tolerated (default 30 s). */
  gateGraceMs?: number;
  /**
   * Replica requests (create, bind, delete, gate, event) in flight at once across all pools (default
   * 32), handed out bindings first, then creates, then Events (request-budget.ts).
   */
  maxInFlight?: number;
  /**
   * The pool's Service and Gateway API InferencePool (routing.ts). Absent (tests that drive the
   * reconciler alone), no routing object is written; the routing label is kept either way.
   */
  routing?: PoolRouting;
  /** How long before a recorded attestation expiry the routing label goes (default 15 s). */
  labelLeadMs?: number;
}

export class InferencePoolReconciler implements Reconciler {
  private readonly now: () => Date;
  private readonly budget: RequestBudget;
  /** Each pool as this reconciler last wrote its status, while the informer has not shown it. */
  private readonly ownWrites: OwnWrites<InferencePool & KubeObject>;
  /** Events waiting to be sent, oldest first from `eventsHead`; a few senders drain them. */
  private readonly pendingEvents: Array<[KubeObject, RecordedEvent]> = [];
  private eventsHead = 0;
  private eventSenders = 0;

  constructor(private readonly deps: InferencePoolReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.budget = new RequestBudget({ maxInFlight: deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT });
    this.ownWrites = new OwnWrites(deps.pools, () => this.now().getTime());
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { namespace, name } = parseObjectKey(key);
    if (!namespace) throw new Error(`InferencePool key without a namespace: ${key}`);
    const { view, pools } = this.deps;
    const pk = poolKey(namespace, name);
    // The pool as this reconciler last wrote its status, until the informer shows that write: a pool's
    // Pods wake it again moments after its status write, and planned from the copy before it, the same
    // status was applied twice with new transition times (npm run bench -- placement; kube/own-writes.ts).
    const cached = pools.get(namespace, name);
    const pool = cached && this.ownWrites.newest(cached);
    if (!pool || pool.metadata.deletionTimestamp) {
      // The garbage collector deletes the replicas (and the routing objects) through their owner references.
      view.setWaiting(pk, false);
      this.deps.routing?.forgetPool(namespace, name);
      return;
    }
    if (name.length > MAX_POOL_NAME_LENGTH) {
      // The name is a label value on every replica; the apiserver would refuse each Pod.
      await this.writeStatus(pool, invalidNameStatus(pool, this.now()));
      return;
    }

    const now = this.now();
    const observed = new Map<string, KubeObject>();
    const replicas = this.observe(pool, observed);
    const plan = planReplicas(pool, replicas, (node) => view.nodeHealth(node), now, this.deps.gateGraceMs ?? DEFAULT_GATE_GRACE_MS);
    const poolRef = poolObject(pool);
    const events: Array<[KubeObject, RecordedEvent]> = [];
    const failures: unknown[] = [];

    // 1. Deletes: replicas on lost or quarantined nodes, finished ones, the scale-down surplus, and
    //    replicas built for an earlier spec that serve nothing or whose replacements are ready.
    let deleted = 0;
    await Promise.all(plan.deletes.map(async (d) => {
      try {
        await this.budget.run('bind', () => this.deps.client.delete(Pods, d.name, namespace, d.uid ? { uid: d.uid } : {}));
        if (d.uid) view.markDeleting(d.uid);
        deleted++;
      } catch (err) {
        // A uid precondition that fails means the Pod is another one now: the next reconcile sees it.
        if (!isConflict(err)) failures.push(err);
      }
    }));
    const scaledDown = plan.deletes.filter((d) => d.reason === 'ScaleDown');
    if (scaledDown.length) {
      events.push([poolRef, { type: 'Normal', reason: 'ScaledDown', action: 'Delete', message: `deleted ${scaledDown.length} replicas: ${names(scaledDown.map((d) => d.name))}` }]);
    }
    for (const d of plan.deletes.filter((x) => x.reason === 'Outdated')) {
      const why = d.wasReady ? 'its replacement built for the current spec is attested and ready' : 'it was not serving';
      events.push([poolRef, { type: 'Normal', reason: 'ReplicaUpdated', action: 'Delete', message: `deleted replica ${d.name}, built for an earlier spec.model, spec.runtime or spec.gpusPerReplica, because ${why}` }]);
    }
    for (const d of plan.deletes.filter((x) => x.reason !== 'ScaleDown' && x.reason !== 'Outdated')) {
      const why = d.reason === 'NodeLost' ? `its node ${d.node} is gone` : d.reason === 'NodeQuarantined' ? `its node ${d.node} is quarantined` : 'it finished';
      events.push([poolRef, { type: 'Warning', reason: 'ReplicaReplaced', action: 'Delete', message: `deleted replica ${d.name} because ${why}; a replacement is placed on another attested node` }]);
    }

    // 2a. The routing label leaves first: a replica whose attestation lapses (or was never recorded) is
    //     unlabelled before its gate is turned False below, so routing, which selects on the label, drops
    //     it before readiness does. A removal needs no precondition (it only ever narrows routing); a gate
    //     flip whose label could not be removed waits for the next reconcile.
    const labels = planAttestedLabels(plan.kept, now, this.deps.labelLeadMs ?? DEFAULT_LABEL_LEAD_MS);
    const stillLabelled = new Set<string>();
    await Promise.all(labels.removes.map(async (podName) => {
      try {
        const updated = await this.budget.run('bind', () => this.deps.client.patchMerge<KubeObject>(Pods, podName, namespace, { metadata: { labels: { [LABEL_REPLICA_ATTESTED]: null } } }));
        const before = observed.get(podName);
        // The gate flip is conditioned on the Pod it was planned from. Our own label write moved the
        // resourceVersion on; if the gate is as planned in the answer, plan the flip on that version,
        // otherwise (a verdict arrived meanwhile) leave it to the reconcile the change triggers.
        if (before && JSON.stringify(gateCondition(updated)) === JSON.stringify(gateCondition(before))) observed.set(podName, updated);
        else observed.delete(podName);
      } catch (err) {
        if (!isNotFound(err)) {
          stillLabelled.add(podName);
          failures.push(err);
        }
      }
    }));

    // 2. Readiness gates whose attestation lapsed (or never carried an expiry) go False — but only on the
    //    Pod as it was planned from. The attestation service writes its verdict to the same condition; a
    //    flip planned from a cache that has not shown that verdict yet must not overwrite it. So the patch
    //    carries the resourceVersion of the observed Pod (the apiserver answers 409 Conflict if the Pod
    //    changed since: the reconcile is retried from the newer Pod), and being a precondition on an
    //    unchanged Pod, it can replace the conditions list it read as a whole (a JSON merge patch).
    const unattested = new Set<string>();
    await Promise.all(plan.gateFlips.map(async (flip) => {
      if (stillLabelled.has(flip.name)) return;
      const pod = observed.get(flip.name);
      const resourceVersion = pod?.metadata?.resourceVersion;
      if (!pod || !resourceVersion) return; // only Pods from the cache carry a gate to flip
      // Both reasons come from the ProviderNode cache (no key for this Pod, or an expired one); the service
      // may have recorded a key, or renewed it, that the cache has not shown yet. Read the host first.
      if (await this.keyRecordedMeanwhile(pod, now)) return;
      const conditions = ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? [])
        .filter((c) => c.type !== READINESS_GATE_ATTESTED);
      conditions.push({ type: READINESS_GATE_ATTESTED, status: 'False', reason: flip.reason, message: flip.message, lastTransitionTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z') });
      try {
        await this.budget.run('bind', () => this.deps.client.patchMerge(Pods, flip.name, namespace, { metadata: { resourceVersion }, status: { conditions } }, 'status'));
        unattested.add(flip.name);
        events.push([poolRef, { type: 'Warning', reason: flip.reason, action: 'Unattest', message: `replica ${flip.name}: ${flip.message}` }]);
      } catch (err) {
        // NotFound: the Pod is gone, nothing to un-gate. Conflict: the Pod changed (a verdict, perhaps);
        // retrying re-plans from the newer Pod.
        if (!isNotFound(err)) failures.push(err);
      }
    }));

    // 2b. The routing label on replicas a fresh verdict made attested, conditioned on the gate as observed
    //     (labelAddOperations: a failed verdict meanwhile fails the patch's test, answered 422; the
    //     reconcile that change triggers decides). Not on the Pod's resourceVersion: while replicas start,
    //     their Pods change every few seconds (the kubelet's status, the service's gate), and at 2,000 nodes
    //     87% of the adds so conditioned were refused 409 (1,391 a minute in the chaos bench), each one a
    //     write the apiserver computed and threw away and a reconcile of the pool again.
    await Promise.all(labels.adds.map(async (podName) => {
      const pod = observed.get(podName);
      const operations = pod && labelAddOperations(pod);
      if (!operations) return;
      try {
        await this.budget.run('bind', () => this.deps.client.patchJson(Pods, podName, namespace, operations));
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err) && !(err instanceof KubeApiError && err.code === 422)) failures.push(err);
      }
    }));

    // 3. Nodes for new and unbound replicas, chosen in the shared index. Synchronous from the plan to the
    //    last assume(): no other reconcile can run in between, so no GPU is given out twice.
    const gpus = gpusPerReplica(pool);
    const allowedTees = pool.spec.tee?.types ?? DEFAULT_TEES;
    const base = {
      pool: pk,
      gpus,
      gpuModels: pool.spec.gpuModels?.length ? pool.spec.gpuModels : view.gpuModels(),
      maxPriceCoefficient: pool.spec.maxPriceCoefficient ?? Number.MAX_SAFE_INTEGER,
      spreadAcrossProviders: pool.spec.placement?.spreadAcrossProviders ?? true,
      ...(pool.spec.placement?.maxPerNode !== undefined ? { maxPerNode: pool.spec.placement.maxPerNode } : {}),
    };
    const requests: ReplicaRequest[] = [
      ...plan.creates.map((index) => ({ ...base, replicaId: replicaPodName(name, index), teeTypes: allowedTees })),
      // A Pod that exists was built for one TEE (its runtimeClass); it may only go to a node of that TEE.
      ...plan.binds.map((r) => ({ ...base, replicaId: r.name, gpus: r.gpus ?? gpus, teeTypes: r.tee ? [r.tee] : allowedTees })),
    ];
    const existing: Placement[] = plan.kept.filter((r) => r.node !== undefined).map((r) => ({ pool: pk, replicaId: r.name, node: r.node as string, gpus: r.gpus ?? gpus }));
    const placementPlan = requests.length ? planPlacements(view.index, existing, requests) : { placements: [], unplaced: [] };
    for (const p of placementPlan.placements) {
      view.assume({ pool: pk, namespace, name: p.replicaId, node: p.node, gpus: p.gpus, tee: view.teeOf(p.node) as TeeType });
    }
    view.setWaiting(pk, placementPlan.unplaced.length > 0);

    // 4. Create new replicas bound to their node; bind existing unbound ones. Each replica on its own.
    const bindsByName = new Map(plan.binds.map((r) => [r.name, r]));
    const bound = new Map<string, string>();
    await Promise.all(placementPlan.placements.map(async (p) => {
      try {
        const unbound = bindsByName.get(p.replicaId);
        if (unbound) {
          await this.bind(namespace, p.replicaId, unbound.uid, p.node);
        } else {
          const index = replicaIndexOf(name, p.replicaId) as number;
          const pod = buildReplicaPod({ pool, index, tee: view.teeOf(p.node) ?? 'sev-snp', topology: view.topologyOf(p.node) ?? 'node-cvm', node: p.node, config: this.deps.config });
          try {
            await this.budget.run('create', () => this.deps.client.create<KubeObject>(Pods, pod));
          } catch (err) {
            view.unassume(namespace, p.replicaId);
            // Created before (by this process before a restart, or a cache that lags): the next
            // reconcile finds it where it is.
            if (err instanceof KubeApiError && err.reason === 'AlreadyExists') return;
            throw err;
          }
        }
        bound.set(p.replicaId, p.node);
      } catch (err) {
        failures.push(err);
      }
    }));
    // Where each replica went is told once, on the pool (see "One Event per reconcile" above).
    const created = placementPlan.placements.filter((p) => !bindsByName.has(p.replicaId) && bound.has(p.replicaId));
    if (created.length) {
      events.push([poolRef, { type: 'Normal', reason: 'ScaledUp', action: 'Create', message: `created ${created.length} replicas bound by ${this.deps.config.schedulerName}: ${placedOn(created)}` }]);
    }
    const boundExisting = placementPlan.placements.filter((p) => bindsByName.has(p.replicaId) && bound.has(p.replicaId));
    if (boundExisting.length) {
      events.push([poolRef, { type: 'Normal', reason: 'Scheduled', action: 'Binding', message: `bound ${boundExisting.length} existing replicas: ${placedOn(boundExisting)}` }]);
    }
    if (placementPlan.unplaced.length) {
      events.push([poolRef, { type: 'Warning', reason: 'PlacementFailed', action: 'Place', message: poolStatusMessage(placementPlan.unplaced.length, plan.desired, placementPlan.unplaced[0]?.message ?? '') }]);
    }

    // 5. Status from what is now true (the caches catch up with the same facts shortly).
    const after: ReplicaObservation[] = plan.kept.map((r) => (bound.has(r.name) ? { ...r, node: bound.get(r.name) } : r));
    for (const p of created) {
      after.push({ name: p.replicaId, uid: '', index: replicaIndexOf(name, p.replicaId) as number, node: p.node, terminating: false, podReady: false, templateHash: plan.templateHash });
    }
    after.sort((a, b) => a.index - b.index);
    const pending = {
      creates: plan.creates.length - created.length,
      binds: plan.binds.filter((r) => !bound.has(r.name)).length,
      deletes: plan.deletes.length - deleted,
    };
    // The pool's Service and Gateway API InferencePool, before the status that reports them.
    const routed = this.deps.routing ? await this.deps.routing.reconcile(pool) : undefined;
    for (const e of routed?.events ?? []) events.push([poolRef, e]);
    failures.push(...(routed?.failures ?? []));
    const status = {
      ...poolStatus({
        pool, plan: { ...plan, gateFlips: plan.gateFlips.filter((f) => unattested.has(f.name)) }, replicas: after,
        unplaced: placementPlan.unplaced, providerOf: (n) => view.providerOf(n), now, pending,
      }),
      ...(routed?.endpoint ? { endpoint: routed.endpoint } : {}),
    };
    try {
      await this.writeStatus(pool, status);
    } catch (err) {
      failures.push(err);
    }

    // Events are a courtesy to people: sent without holding up the next reconcile.
    this.recordLater(events);

    const notLeader = failures.find((e) => e instanceof NotLeaderError);
    if (notLeader) throw notLeader;
    if (failures.length) {
      ctx.log.warn('some replica operations failed; retrying', { failures: failures.length, first: String(failures[0]) });
      throw failures[0];
    }
    const requeues = [plan.requeueAfterMs, labels.requeueAfterMs].filter((ms): ms is number => ms !== undefined);
    return requeues.length ? { requeueAfterMs: Math.min(...requeues) } : undefined;
  }

  /**
   * Queues events and makes sure a few senders drain them through the budget's lowest priority. While
   * placements keep the budget busy, events wait here as plain tuples (thousands of them during a large
   * scale-up) rather than as as many suspended requests.
   */
  private recordLater(events: Array<[KubeObject, RecordedEvent]>): void {
    for (const e of events) this.pendingEvents.push(e);
    while (this.eventSenders < EVENT_SENDERS && this.eventsHead < this.pendingEvents.length) {
      this.eventSenders++;
      void this.sendEvents();
    }
  }

  private async sendEvents(): Promise<void> {
    try {
      while (this.eventsHead < this.pendingEvents.length) {
        const [obj, event] = this.pendingEvents[this.eventsHead] as [KubeObject, RecordedEvent];
        this.pendingEvents[this.eventsHead++] = undefined as unknown as [KubeObject, RecordedEvent];
        if (this.eventsHead >= 1024 && this.eventsHead * 2 >= this.pendingEvents.length) {
          this.pendingEvents.splice(0, this.eventsHead);
          this.eventsHead = 0;
        }
        // The recorder logs its own failures; the one thing it throws is the fence's refusal, and then
        // this process is stepping down anyway.
        await this.budget.run('event', () => this.deps.events.record(obj, event)).catch(() => undefined);
      }
    } finally {
      this.eventSenders--;
    }
  }

  /** The pool's replicas: Pods from the cache, corrected by what this process did and has not seen yet. */
  private observe(pool: InferencePool, pods: Map<string, KubeObject>): ReplicaObservation[] {
    const { view } = this.deps;
    const namespace = pool.metadata.namespace as string;
    const name = pool.metadata.name as string;
    const pk = poolKey(namespace, name);
    const out: ReplicaObservation[] = [];
    const templateHash = replicaTemplateHash(pool);
    for (const pod of view.replicaPods(pk)) {
      const podName = pod.metadata?.name as string;
      const index = replicaIndexOf(name, podName);
      if (index === undefined) continue; // carries our label but not our naming: not a replica of ours
      const owned = pod.metadata?.ownerReferences?.some((o) => o.controller && o.uid === pool.metadata.uid) ?? false;
      pods.set(podName, pod);
      // A replica built for an earlier spec is judged by the model it was built with (its check's own
      // report): it still serves that model until it is replaced.
      const current = pod.metadata?.labels?.[LABEL_TEMPLATE_HASH] === templateHash;
      out.push(observePod(pod, index, !owned || view.isDeleting(pod.metadata?.uid ?? ''), view.assumedNode(namespace, podName), this.deps.config.gpuResourceName, view.attestationExpiry(pod), current ? pool.spec.model.hash : undefined));
    }
    for (const a of view.unseenAssumptions(pk)) {
      const index = replicaIndexOf(name, a.name);
      if (index === undefined) continue;
      // Created by this process moments ago, from the pool as it was then: taken for current (at worst one
      // reconcile plans one create fewer), never for outdated, which could delete it unseen.
      out.push({ name: a.name, uid: '', index, node: a.node, tee: a.tee, terminating: false, podReady: false, templateHash });
    }
    return out;
  }

  private async bind(namespace: string, name: string, uid: string | undefined, node: string): Promise<void> {
    try {
      await this.budget.run('bind', () => this.deps.client.create(Pods, {
        apiVersion: 'v1', kind: 'Binding',
        // The uid makes the binding a precondition: it cannot bind a newer Pod of the same name.
        metadata: { name, namespace, ...(uid ? { uid } : {}) },
        target: { apiVersion: 'v1', kind: 'Node', name: node },
      }, { namespace, name, subresource: 'binding' }));
    } catch (err) {
      // Conflict (already bound, by us before a restart) or NotFound (deleted meanwhile) included: the
      // informer will show where the Pod really is, and the GPUs assumed here are not taken by it.
      this.deps.view.unassume(namespace, name);
      throw err;
    }
  }

  /**
   * Whether the host's ProviderNode, read now rather than from the cache, holds an unexpired key for this
   * very Pod. The service records the key before it writes the gate, but the Pod and ProviderNode watches
   * deliver independently: a gate True seen before the key arrives (and whose lastTransitionTime is old,
   * as kwok rewrites every gate), or before its renewal arrives while the cache still holds the expired
   * key, would be turned False though the replica is attested, and stay so until its attester renews
   * (in the chaos bench at 1,000 nodes, with the apiserver saturated, 922 of 1,000 gates). One GET per
   * planned flip: flips are what a lapse costs anyway.
   */
  private async keyRecordedMeanwhile(pod: KubeObject, now: Date): Promise<boolean> {
    const replica = pod as PodIdentity;
    const node = replica.spec?.nodeName;
    const names = node === undefined ? [] : this.deps.view.providerNodeNames(node);
    if (names.length !== 1) return false;
    // The same test metering applies to a usage report: this Pod's uid, on the host it runs on, unexpired.
    return attestedReplicaKey(await this.deps.client.get<ProviderNode & KubeObject>(ProviderNodes, names[0] as string), replica, now) !== undefined;
  }

  private async writeStatus(pool: InferencePool & KubeObject, status: InferencePoolStatus): Promise<void> {
    const { object, written } = await this.deps.client.applyStatusIfChanged(InferencePools, pool, status);
    if (written) this.ownWrites.remember(object);
  }
}

/** What the reconciler reads of one replica Pod (test/kube/cached-shape.test.ts runs it on whole and cached Pods). */
export function observePod(pod: KubeObject, index: number, terminating: boolean, assumedNode: string | undefined, gpuResourceName: string, expires: Date | undefined, expectedModelHash: string | undefined): ReplicaObservation {
  const spec = pod.spec as { nodeName?: string } | undefined;
  const status = pod.status as { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string; lastTransitionTime?: string }> } | undefined;
  const gate = status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED);
  const tee = pod.metadata?.labels?.[LABEL_TEE];
  const node = spec?.nodeName ?? assumedNode;
  return {
    name: pod.metadata?.name as string,
    uid: pod.metadata?.uid ?? '',
    index,
    gpus: podGpus(pod, gpuResourceName),
    ...(node ? { node } : {}),
    ...(tee && (ALL_TEES as readonly string[]).includes(tee) ? { tee: tee as TeeType } : {}),
    ...(status?.phase ? { phase: status.phase } : {}),
    terminating: terminating || pod.metadata?.deletionTimestamp !== undefined,
    ...(gate ? { gate: gate.status as 'True' | 'False' | 'Unknown' } : {}),
    ...(gate?.lastTransitionTime ? { gateSince: new Date(gate.lastTransitionTime) } : {}),
    ...(gate?.reason ? { gateReason: gate.reason } : {}),
    ...(expires ? { attestationExpires: expires } : {}),
    podReady: status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    modelCheck: modelCheckOf((pod.status as { initContainerStatuses?: Parameters<typeof modelCheckOf>[0] } | undefined)?.initContainerStatuses, expectedModelHash),
    attestedLabel: pod.metadata?.labels?.[LABEL_REPLICA_ATTESTED] === LABEL_REPLICA_ATTESTED_VALUE,
    ...(pod.metadata?.labels?.[LABEL_TEMPLATE_HASH] ? { templateHash: pod.metadata.labels[LABEL_TEMPLATE_HASH] } : {}),
  };
}

/**
 * The JSON patch that adds the routing label to a replica only if it is still the Pod observed (its uid)
 * and its gate still says what the plan saw (type, status and reason at the same place in the list);
 * undefined when the observed Pod has no True gate or no labels (a replica always has its pool's).
 */
export function labelAddOperations(pod: KubeObject): JsonPatchOperation[] | undefined {
  const conditions = (pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? [];
  const at = conditions.findIndex((c) => c.type === READINESS_GATE_ATTESTED);
  const gate = conditions[at];
  if (!gate || gate.status !== 'True' || !pod.metadata?.uid || !pod.metadata.labels) return undefined;
  return [
    { op: 'test', path: '/metadata/uid', value: pod.metadata.uid },
    { op: 'test', path: `/status/conditions/${at}/type`, value: READINESS_GATE_ATTESTED },
    { op: 'test', path: `/status/conditions/${at}/status`, value: 'True' },
    ...(gate.reason !== undefined ? [{ op: 'test' as const, path: `/status/conditions/${at}/reason`, value: gate.reason }] : []),
    { op: 'add', path: `/metadata/labels/${jsonPointerSegment(LABEL_REPLICA_ATTESTED)}`, value: LABEL_REPLICA_ATTESTED_VALUE },
  ];
}

function gateCondition(pod: KubeObject): PodCondition | undefined {
  return ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []).find((c) => c.type === READINESS_GATE_ATTESTED);
}

function poolObject(pool: InferencePool): KubeObject {
  return { apiVersion: pool.apiVersion, kind: pool.kind, metadata: pool.metadata as KubeObject['metadata'] };
}

/** "llama-0 on gpu-3, llama-1 on gpu-7 …": as many as fit an Event's note, then how many more. */
function placedOn(placements: ReadonlyArray<{ replicaId: string; node: string }>): string {
  const budget = 900;
  let text = '';
  let shown = 0;
  for (const p of placements) {
    const item = `${shown ? ', ' : ''}${p.replicaId} on ${p.node}`;
    if (text.length + item.length > budget) break;
    text += item;
    shown++;
  }
  return shown < placements.length ? `${text} and ${placements.length - shown} more` : text;
}

/** Up to five names, so an event stays short and reads the same for the same set. */
function names(list: string[]): string {
  return list.length <= 5 ? list.join(', ') : `${list.slice(0, 5).join(', ')} and ${list.length - 5} more`;
}

function poolStatusMessage(unplaced: number, desired: number, first: string): string {
  return `${unplaced} of ${desired} replicas could not be placed: ${first}`;
}

function invalidNameStatus(pool: InferencePool, now: Date): InferencePoolStatus {
  const message = `the pool name is ${pool.metadata.name?.length} characters; replica Pods carry it as a label value, which allows at most ${MAX_POOL_NAME_LENGTH}`;
  const gen = pool.metadata.generation !== undefined ? { observedGeneration: pool.metadata.generation } : {};
  let conditions = setCondition(pool.status?.conditions, { type: 'Ready', status: 'False', reason: 'InvalidName', message, ...gen }, now);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'InvalidName', message, ...gen }, now);
  conditions = setCondition(conditions, { type: 'Degraded', status: 'True', reason: 'InvalidName', message, ...gen }, now);
  return {
    ...gen,
    conditions,
    replicas: { desired: pool.spec.replicas.max, placed: 0, attested: 0, ready: 0 },
  };
}
