// The InferencePool controller's decisions, as pure functions of what was observed and the time:
//
//   planReplicas(pool, replicas, nodeHealth, now) → which Pods to delete, which replica indexes to create,
//     which existing Pods still need a node, which readiness gates to turn False, and when to look again.
//   poolStatus(...) → the status the pool should show (counts, placements, Ready/Progressing/Degraded).
//
// Node choice itself is the placement engine's (operator/src/placement); the reconciler feeds it the
// replicas this plan says need a node.
//
// Rules, each a line a reviewer can check against the tests in test/inferencepool/plan.test.ts:
//  - desired = spec.replicas.max. Nothing measures load yet, so the pool runs at its ceiling; min is the
//    floor an autoscaler will be allowed to go down to.
//  - A replica whose node is gone (no Node or no ProviderNode) or quarantined is deleted and replaced:
//    the GPUs it ran on can no longer be trusted or no longer exist. A cordoned node keeps its replicas.
//  - A replica that finished (phase Succeeded/Failed) is deleted and replaced.
//  - A Pod being deleted is not a replica any more, but its name stays taken until it is gone, so the
//    replacement takes the lowest free index instead of waiting.
//  - Scale down removes unbound replicas first, then unattested, then attested-but-not-ready, then ready
//    ones; within each group the highest index first.
//  - A replica is current when its chrysalis.dev/template-hash label equals the digest of the pool's
//    spec.model, spec.runtime and spec.gpusPerReplica now (template-hash.ts); otherwise (another value, or
//    none: a Pod made before the label, whose origin cannot be told) it is outdated and is replaced
//    without taking the pool below what it serves:
//      · an outdated replica that is not ready serves nothing and is deleted at once;
//      · an outdated ready one is deleted only while the replicas serving after that are still at least
//        desired − spec.rollout.maxUnavailable (default 0) — with the default, once a replacement is
//        ready and carries the routing label;
//      · current replicas are created up to desired, with spec.rollout.maxSurge (default 1) more live
//        replicas than desired allowed while outdated ones remain: the surge replica takes free GPUs
//        beside the outdated one, which keeps its GPUs and its traffic until the surge replica serves.
//        No free GPUs: the surge waits for capacity (the status says so) and, unless maxUnavailable
//        allows it, nothing is deleted first.
//    One at a time by default. The same view always gives the same plan, and a pool whose replicas are
//    all current plans exactly what it did before the label existed.
//  - Scale up creates the lowest free indexes. Names are `<pool>-<index>`, so a plan made again from the
//    same (or a stale) view names the same Pods and a repeated create answers AlreadyExists.
//  - Readiness gate: a replica is attested only while its gate condition is True AND the expiry the
//    attestation service recorded for it (its host ProviderNode's status.attestedReplicas, for this Pod's
//    uid; never Pod annotations, which anyone who may patch the Pod can write) is in the future. Past the
//    expiry the gate is turned False (AttestationExpired) and the pool looks again at the next expiry. A
//    gate that is True without a recorded expiry (kwok's simulated kubelet sets every gate True, for
//    instance) is not attestation: after a short grace, for a cache that shows the gate before the
//    ProviderNode, it is turned False (AttestationMissing). Fail closed.
//  - ready = attested AND the Pod's own Ready condition True (a kubelet that ignores gates cannot make
//    a replica ready on its own) AND its model check did not fail (a mismatch or a failed check is never
//    ready, whatever the kubelet says). The pool's ModelVerified condition says why (model-verified.ts).
import type { Condition } from '../../kube/conditions.js';
import { setCondition } from '../../kube/conditions.js';
import type { InferencePool, InferencePoolStatus, InferencePoolStatusPlacement } from '../../api/index.js';
import type { TeeType } from '../../placement/index.js';
import type { Unplaced } from '../../placement/index.js';
import { degradedCondition } from '../../placement/index.js';
import { READINESS_GATE_ATTESTED } from '../../marks.js';
import { modelCheckFailed, modelVerifiedCondition, type ModelCheckObservation } from './model-verified.js';
import { replicaTemplateHash } from './template-hash.js';

/** How long a True gate without a readable expiry is tolerated before it is turned False. */
export const DEFAULT_GATE_GRACE_MS = 30_000;

/** Live replicas allowed beyond desired while outdated replicas are replaced (spec.rollout.maxSurge). */
export const DEFAULT_MAX_SURGE = 1;
/** Ready replicas allowed below desired while outdated replicas are replaced (spec.rollout.maxUnavailable). */
export const DEFAULT_MAX_UNAVAILABLE = 0;

export function rolloutLimits(pool: InferencePool): { maxSurge: number; maxUnavailable: number } {
  return {
    maxSurge: pool.spec.rollout?.maxSurge ?? DEFAULT_MAX_SURGE,
    maxUnavailable: pool.spec.rollout?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE,
  };
}

/** What the plan needs to know about one replica Pod; the reconciler extracts it from the Pod. */
export interface ReplicaObservation {
  name: string;
  uid: string;
  index: number;
  /** GPUs the Pod requests (it may predate a change of spec.gpusPerReplica); absent = the pool's. */
  gpus?: number;
  /** spec.nodeName, when bound. */
  node?: string;
  /** The TEE the Pod was built for (its runtimeClass follows it); undefined if the label is missing. */
  tee?: TeeType;
  phase?: string;
  /** metadata.deletionTimestamp is set, or this process deleted it and has not seen that yet. */
  terminating: boolean;
  /** Status of the chrysalis.dev/attested condition, if present. */
  gate?: 'True' | 'False' | 'Unknown';
  /** When the gate condition last changed (for the missing-expiry grace). */
  gateSince?: Date;
  gateReason?: string;
  /** The expiry the attestation service recorded for this Pod (host ProviderNode status.attestedReplicas); undefined when none. */
  attestationExpires?: Date;
  /** The Pod's Ready condition is True. */
  podReady: boolean;
  /** The model check's outcome (its init container's status); absent when the Pod shows none. */
  modelCheck?: ModelCheckObservation;
  /** The Pod carries chrysalis.dev/attested=true, the label routing selects on (attested-label.ts). */
  attestedLabel?: boolean;
  /** The Pod's chrysalis.dev/template-hash label: the spec it was built from (template-hash.ts). */
  templateHash?: string;
}

export type NodeHealth = 'ok' | 'gone' | 'quarantined';

export type DeleteReason = 'ScaleDown' | 'NodeLost' | 'NodeQuarantined' | 'ReplicaFinished' | 'Outdated';

export interface ReplicaDelete {
  name: string;
  uid: string;
  index: number;
  reason: DeleteReason;
  node?: string;
  /** For Outdated: whether the replica was ready (its replacement is, then) or served nothing. */
  wasReady?: boolean;
}

export interface GateFlip {
  name: string;
  reason: 'AttestationExpired' | 'AttestationMissing';
  message: string;
}

export interface ReplicaPlan {
  desired: number;
  /** The pool's current template hash: what every replica should carry. */
  templateHash: string;
  deletes: ReplicaDelete[];
  /** New replica indexes, lowest first; each needs a node, then a Pod created bound to it. */
  creates: number[];
  /** Existing unbound replicas (not being deleted) that need a node. */
  binds: ReplicaObservation[];
  gateFlips: GateFlip[];
  /** Replicas that stay (bound or not), by index; outdated ones among them still serve. */
  kept: ReplicaObservation[];
  /** How many of `creates` go beyond desired: surge replicas for outdated ones that still serve. */
  surge: number;
  /** Visit again after this long (the next attestation expiry or grace end); undefined when nothing is due. */
  requeueAfterMs?: number;
}

export function desiredReplicas(pool: InferencePool): number {
  return pool.spec.replicas.max;
}

/** A replica counts as attested at `now`: the rule in the header. */
export function isAttested(r: ReplicaObservation, now: Date): boolean {
  return r.gate === 'True' && r.attestationExpires !== undefined && r.attestationExpires.getTime() > now.getTime();
}

export function isReady(r: ReplicaObservation, now: Date): boolean {
  return isAttested(r, now) && r.podReady && !modelCheckFailed(r.modelCheck);
}

const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

export function planReplicas(
  pool: InferencePool,
  replicas: readonly ReplicaObservation[],
  nodeHealth: (node: string) => NodeHealth,
  now: Date,
  gateGraceMs = DEFAULT_GATE_GRACE_MS,
): ReplicaPlan {
  const desired = desiredReplicas(pool);
  const templateHash = replicaTemplateHash(pool);
  const { maxSurge, maxUnavailable } = rolloutLimits(pool);
  const floor = Math.max(0, desired - maxUnavailable);
  const deletes: ReplicaDelete[] = [];
  const live: ReplicaObservation[] = [];
  // Every index with a Pod, terminating ones included: their names are not free yet.
  const taken = new Set<number>();

  for (const r of replicas) {
    taken.add(r.index);
    if (r.terminating) continue;
    if (r.phase !== undefined && FINISHED_PHASES.has(r.phase)) {
      deletes.push({ name: r.name, uid: r.uid, index: r.index, reason: 'ReplicaFinished', node: r.node });
      continue;
    }
    if (r.node !== undefined) {
      const health = nodeHealth(r.node);
      if (health !== 'ok') {
        deletes.push({ name: r.name, uid: r.uid, index: r.index, reason: health === 'gone' ? 'NodeLost' : 'NodeQuarantined', node: r.node });
        continue;
      }
    }
    live.push(r);
  }

  const leastUsefulFirst = (a: ReplicaObservation, b: ReplicaObservation) => usefulness(a, now) - usefulness(b, now) || b.index - a.index;

  // Outdated replicas: those that serve nothing go now; one that serves goes only while the replicas
  // serving without it are still at least the floor (by default desired: its replacement serves). A
  // current replica serves once routing selects it too (the routing label, added in the reconcile after
  // it became ready), so an outdated one leaves the Service's endpoints only after its replacement is in.
  const serves = (r: ReplicaObservation) => isReady(r, now) && (r.templateHash !== templateHash || r.attestedLabel === true);
  let servingCount = live.filter(serves).length;
  const keptOutdated: ReplicaObservation[] = [];
  for (const r of live.filter((x) => x.templateHash !== templateHash).sort(leastUsefulFirst)) {
    const wasReady = serves(r);
    if (wasReady && servingCount - 1 < floor) {
      keptOutdated.push(r);
      continue;
    }
    if (wasReady) servingCount--;
    deletes.push({ name: r.name, uid: r.uid, index: r.index, reason: 'Outdated', node: r.node, wasReady });
  }

  // Scale down of current replicas: the least useful go first.
  let current = live.filter((r) => r.templateHash === templateHash);
  if (current.length > desired) {
    const removed = [...current].sort(leastUsefulFirst).slice(0, current.length - desired);
    for (const r of removed) deletes.push({ name: r.name, uid: r.uid, index: r.index, reason: 'ScaleDown', node: r.node });
    const removedNames = new Set(removed.map((r) => r.name));
    current = current.filter((r) => !removedNames.has(r.name));
  }
  const kept = [...current, ...keptOutdated].sort((a, b) => a.index - b.index);

  // Current replicas up to desired; while outdated ones still serve, maxSurge beyond desired in all.
  const wanted = desired - current.length;
  const room = desired + (keptOutdated.length > 0 ? maxSurge : 0) - kept.length;
  const count = Math.max(0, Math.min(wanted, room));
  const creates: number[] = [];
  for (let index = 0; creates.length < count; index++) {
    if (!taken.has(index)) creates.push(index);
  }
  const surge = Math.max(0, kept.length + creates.length - desired);

  const binds = kept.filter((r) => r.node === undefined);

  const gateFlips: GateFlip[] = [];
  let nextVisit: number | undefined;
  const visitAt = (t: number) => { nextVisit = nextVisit === undefined ? t : Math.min(nextVisit, t); };
  for (const r of kept) {
    if (r.gate !== 'True') continue;
    if (r.attestationExpires === undefined) {
      const graceEnds = (r.gateSince?.getTime() ?? 0) + gateGraceMs;
      if (graceEnds <= now.getTime()) {
        gateFlips.push({ name: r.name, reason: 'AttestationMissing', message: `the ${READINESS_GATE_ATTESTED} gate was True without an attestation the service recorded for this Pod (its ProviderNode's status.attestedReplicas); a verdict without an expiry is not attestation` });
      } else {
        visitAt(graceEnds);
      }
    } else if (r.attestationExpires.getTime() <= now.getTime()) {
      gateFlips.push({ name: r.name, reason: 'AttestationExpired', message: `the replica's attestation expired at ${r.attestationExpires.toISOString()}` });
    } else {
      visitAt(r.attestationExpires.getTime());
    }
  }

  return {
    desired,
    templateHash,
    deletes,
    creates,
    binds,
    gateFlips,
    kept,
    surge,
    ...(nextVisit !== undefined ? { requeueAfterMs: Math.max(0, nextVisit - now.getTime()) } : {}),
  };
}

/** 0 unbound, 1 bound but unattested, 2 attested but not ready, 3 ready: lower goes first on scale down. */
function usefulness(r: ReplicaObservation, now: Date): number {
  if (r.node === undefined) return 0;
  if (!isAttested(r, now)) return 1;
  if (!r.podReady) return 2;
  return 3;
}

export interface StatusInput {
  pool: InferencePool;
  plan: ReplicaPlan;
  /** Kept replicas with their node after this reconcile's bindings (unbound ones have none). */
  replicas: readonly ReplicaObservation[];
  /** This pool's replicas the engine could not place in this reconcile. */
  unplaced: readonly Unplaced[];
  /** Provider (payout address) of a node, when known. */
  providerOf: (node: string) => string | undefined;
  now: Date;
  /**
   * Replica work still outstanding once the reconcile has acted: creates, bindings and deletes that did
   * not happen (failed, or answered AlreadyExists). Default: all of the plan's, as before acting. A
   * reconcile that did everything it planned reports what the next one will see — nothing in progress
   * but attestation — so the pool's status is written once per change, not once more when the caches
   * catch up.
   */
  pending?: PendingWork;
}

export interface PendingWork {
  creates: number;
  binds: number;
  deletes: number;
}

export function poolStatus({ pool, plan, replicas, unplaced, providerOf, now, pending }: StatusInput): InferencePoolStatus {
  const generation = pool.metadata.generation;
  const desired = plan.desired;
  const flipped = new Set(plan.gateFlips.map((f) => f.name));
  const bound = replicas.filter((r) => r.node !== undefined);
  const attested = bound.filter((r) => !flipped.has(r.name) && isAttested(r, now));
  const ready = attested.filter((r) => r.podReady && !modelCheckFailed(r.modelCheck));
  // A gate someone turned False (expired, revoked, rejected) is a verdict; an absent gate is work in progress.
  const lostAttestation = bound.filter((r) => flipped.has(r.name) || r.gate === 'False');
  // Ready and ModelVerified speak of the pool's spec as it is now: replicas built for an earlier one
  // still serve (and are counted in status.replicas) until they are replaced, but do not make the pool
  // Ready nor its model verified.
  const isCurrent = (r: ReplicaObservation) => r.templateHash === plan.templateHash;
  const readyCurrent = ready.filter(isCurrent);
  const outdated = replicas.filter((r) => !isCurrent(r));
  const readyOutdated = ready.length - readyCurrent.length;
  const replacedNow = plan.deletes.filter((d) => d.reason === 'Outdated').length;
  const updating = outdated.length > 0 || replacedNow > 0;

  const placements: InferencePoolStatusPlacement[] = bound.map((r) => {
    const provider = providerOf(r.node as string);
    return { pod: r.name, node: r.node as string, ...(provider !== undefined ? { provider } : {}) };
  });

  const gen = generation !== undefined ? { observedGeneration: generation } : {};
  let conditions: Condition[] = (pool.status?.conditions ?? []) as Condition[];

  const readyMessage = `${readyCurrent.length} of ${desired} replicas attested and ready`
    + (readyOutdated > 0 ? `; ${readyOutdated} more built for an earlier spec still serve until their replacements are ready` : '');
  conditions = setCondition(conditions, readyCurrent.length >= desired
    ? { type: 'Ready', status: 'True', reason: 'ReplicasReady', message: readyMessage, ...gen }
    : { type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: readyMessage, ...gen }, now);

  const work: PendingWork = pending ?? { creates: plan.creates.length, binds: plan.binds.length, deletes: plan.deletes.length };
  const working = work.creates > 0 || work.binds > 0 || work.deletes > 0;
  let progressing: { status: 'True' | 'False'; reason: string; message: string };
  const outdatedNote = `${outdated.length} replica${outdated.length === 1 ? '' : 's'} built for an earlier spec.model, spec.runtime or spec.gpusPerReplica`;
  if (unplaced.length > 0 && updating) {
    progressing = {
      status: 'False', reason: 'WaitingForCapacity',
      message: `the update to the current spec waits for attested capacity: ${unplaced.length} new replica${unplaced.length === 1 ? '' : 's'} of ${pool.spec.gpusPerReplica ?? 1} GPUs could not be placed; ${outdatedNote} keep serving and are deleted only after their replacements are ready (free GPUs on an attested node, lower spec.replicas.max, or allow spec.rollout.maxUnavailable): ${unplaced[0]?.message ?? ''}`,
    };
  } else if (unplaced.length > 0) {
    progressing = { status: 'False', reason: 'WaitingForCapacity', message: `${unplaced.length} replicas wait for attested capacity` };
  } else if (updating) {
    progressing = {
      status: 'True', reason: 'ModelChanged',
      message: `replacing ${outdated.length > 0 ? outdatedNote : `the replicas built for an earlier spec`}, ${describeRollout(rolloutLimits(pool))}; ${readyCurrent.length} of ${desired} ready on the current spec${working ? ` (${describeWork(work)})` : ''}`,
    };
  } else if (working) {
    progressing = { status: 'True', reason: 'PlacingReplicas', message: describeWork(work) };
  } else if (attested.length < bound.length - lostAttestation.length) {
    progressing = { status: 'True', reason: 'AwaitingAttestation', message: `${bound.length - lostAttestation.length - attested.length} placed replicas wait for their attestation` };
  } else if (ready.length < attested.length) {
    progressing = { status: 'True', reason: 'AwaitingReadiness', message: `${attested.length - ready.length} attested replicas are not ready yet` };
  } else {
    progressing = { status: 'False', reason: 'Stable', message: `${bound.length} of ${desired} replicas placed; nothing in progress` };
  }
  conditions = setCondition(conditions, { type: 'Progressing', ...progressing, ...gen }, now);

  let degraded: { status: 'True' | 'False'; reason: string; message: string };
  // Only surge replicas unplaced (as many replicas placed as desired): the pool is not short of replicas.
  if (unplaced.length > 0 && bound.length < desired) {
    degraded = { ...degradedCondition(unplaced, desired) };
  } else if (lostAttestation.length > 0) {
    degraded = {
      status: 'True', reason: 'ReplicasUnattested',
      message: `${lostAttestation.length} placed replicas are not attested: ${lostAttestation.slice(0, 5).map((r) => r.name).join(', ')}${lostAttestation.length > 5 ? ', …' : ''}`,
    };
  } else {
    degraded = { status: 'False', reason: 'AllReplicasPlaced', message: `all ${desired} replicas placed` };
  }
  conditions = setCondition(conditions, { type: 'Degraded', ...degraded, ...gen }, now);
  conditions = setCondition(conditions, { ...modelVerifiedCondition(bound.filter(isCurrent), pool.spec.model.hash), ...gen }, now);

  return {
    ...gen,
    conditions,
    replicas: { desired, placed: bound.length, attested: attested.length, ready: ready.length },
    gpus: bound.length * (pool.spec.gpusPerReplica ?? 1),
    placements,
    // No `usage`: the attestation service's metering owns it. Server-side apply leaves fields another
    // manager owns alone, and the reconciler compares statuses without it.
  };
}

function describeRollout({ maxSurge, maxUnavailable }: { maxSurge: number; maxUnavailable: number }): string {
  if (maxUnavailable === 0) return `${maxSurge === 1 ? 'one' : maxSurge} at a time, each after its replacement is attested and ready`;
  return `with up to ${maxSurge} extra and up to ${maxUnavailable} fewer ready replicas than desired meanwhile (spec.rollout)`;
}

function describeWork(work: PendingWork): string {
  const parts: string[] = [];
  if (work.creates) parts.push(`creating ${work.creates}`);
  if (work.binds) parts.push(`binding ${work.binds}`);
  if (work.deletes) parts.push(`deleting ${work.deletes}`);
  return `${parts.join(', ')} replicas`;
}
