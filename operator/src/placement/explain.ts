// Words for people: what `chrysalis plan -f pool.yaml` prints for each replica it could not place, and
// the message of an InferencePool's `Degraded` condition. Replicas of one pool usually fail for the same
// reason, so the summary groups identical reasons instead of repeating them per replica.
import { compareNames } from './sorted-names.js';
import type { Unplaced, UnplacedReason } from './types.js';

/** The `Degraded` condition reason when some replicas of a pool have no attested node to run on. */
export const INSUFFICIENT_ATTESTED_CAPACITY = 'InsufficientAttestedCapacity';

/** One line per replica, e.g. `team/llama-3: replica r-7 (4 GPUs) InsufficientGpus: needs 4 free ...`. */
export function describeUnplaced(unplaced: Unplaced): string {
  const gpus = unplaced.gpus === 1 ? '1 GPU' : `${unplaced.gpus} GPUs`;
  return `${unplaced.pool}: replica ${unplaced.replicaId} (${gpus}) ${unplaced.reason}: ${unplaced.message}`;
}

/**
 * A condition-sized summary: "3 of 8 replicas unplaced: 2 InsufficientGpus (needs ...); 1 ...".
 * Groups are ordered by size, then reason, then message, so the same plan always yields the same text
 * (a condition whose message changed on every reconcile would cause a status write each time).
 */
export function summarizeUnplaced(unplaced: readonly Unplaced[], desiredReplicas: number): string {
  if (unplaced.length === 0) return `all ${desiredReplicas} replicas placed`;
  const groups = new Map<string, { reason: UnplacedReason; message: string; count: number }>();
  for (const u of unplaced) {
    const key = `${u.reason}\u0000${u.message}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { reason: u.reason, message: u.message, count: 1 });
    else group.count += 1;
  }
  const ordered = [...groups.values()].sort(
    (a, b) => b.count - a.count || compareNames(a.reason, b.reason) || compareNames(a.message, b.message),
  );
  const parts = ordered.map((g) => `${g.count} ${g.reason} (${g.message})`);
  return `${unplaced.length} of ${desiredReplicas} replicas unplaced: ${parts.join('; ')}`;
}

export interface DegradedCondition {
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

/** The `Degraded` condition an InferencePool should carry for its own unplaced replicas. */
export function degradedCondition(unplacedOfPool: readonly Unplaced[], desiredReplicas: number): DegradedCondition {
  if (unplacedOfPool.length === 0) {
    return { status: 'False', reason: 'AllReplicasPlaced', message: summarizeUnplaced([], desiredReplicas) };
  }
  return {
    status: 'True',
    reason: INSUFFICIENT_ATTESTED_CAPACITY,
    message: summarizeUnplaced(unplacedOfPool, desiredReplicas),
  };
}
