// The pool's ModelVerified condition, from what each replica's model check (the init container,
// operator/src/model/model-volume.ts) reported. Pure.
//
//   modelCheckOf(pod status)     → the check's outcome for one replica, read from the init container's
//                                  terminated state (or, while the kubelet retries it, its last one);
//   modelVerifiedCondition(...)  → the pool's condition:
//       False ModelHashMismatch  some replica computed another hash than spec.model.hash (message names
//                                both hashes and the replica);
//       False ModelCheckFailed   some replica could not compute one (source unreachable, archive or tree
//                                invalid), or its check failed without a readable report;
//       True  HashMatches        at least one replica computed spec.model.hash and none disagrees;
//       Unknown AwaitingModelCheck otherwise.
//
// A replica whose check failed is never counted ready (plan.ts isReady): its server does not run on a
// real kubelet, and a kubelet that says otherwise is not believed. The condition is computed from the
// replicas built for the pool's current spec only (plan.ts, template-hash.ts): a replica of an earlier
// spec is judged by the hash it was built with while it serves until replaced, and never verifies the
// current model. A replica labelled current whose check reports another hash is not a verification of
// the current model either (ModelOutdated).
import { MODEL_CHECK_CONTAINER } from '../../model/model-volume.js';
import { mismatchMessage, parseModelCheckReport } from '../../model/model-check-report.js';
import type { InitStatusLike, TerminatedLike } from '../../kube/cached-shape.js';

export type ModelCheckObservation =
  | { state: 'pending' }
  | { state: 'verified'; hash: string }
  | { state: 'mismatch'; expected: string; computed: string }
  | { state: 'failed'; reason: string; message: string };

/**
 * The model check's outcome from a Pod's status.initContainerStatuses; pending when it has none yet.
 * `expectedHash` is the pool's spec.model.hash for a replica built for the current spec; undefined for
 * one built for an earlier spec (plan.ts), which is judged by the hash it was built with: its check's
 * exit code, and the hash its report names.
 */
export function modelCheckOf(initContainerStatuses: readonly InitStatusLike[] | undefined, expectedHash: string | undefined): ModelCheckObservation {
  const status = initContainerStatuses?.find((s) => s.name === MODEL_CHECK_CONTAINER);
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
  if (!terminated || terminated.exitCode === undefined) return { state: 'pending' };
  const report = parseModelCheckReport(terminated.message);
  if (terminated.exitCode === 0) {
    // The check exits 0 only when the hash it computed is the one the Pod was built with; the report
    // (when the kubelet kept it) also says which hash that was.
    if (expectedHash === undefined) return { state: 'verified', hash: report?.result === 'verified' ? report.hash : 'unknown' };
    // A replica labelled current whose report names another hash: the label does not say what it runs.
    if (report?.result === 'verified' && report.hash !== expectedHash) {
      return { state: 'failed', reason: 'ModelOutdated', message: `the replica verified hash ${report.hash}, not the current spec.model.hash ${expectedHash}; delete it to have it rebuilt with the current model` };
    }
    return { state: 'verified', hash: expectedHash };
  }
  if (report?.result === 'mismatch') return { state: 'mismatch', expected: report.expected, computed: report.computed };
  if (report?.result === 'failed') return { state: 'failed', reason: report.reason, message: report.message };
  return { state: 'failed', reason: 'ModelCheckFailed', message: `the model check exited ${terminated.exitCode} without a readable report` };
}

export function modelCheckFailed(check: ModelCheckObservation | undefined): boolean {
  return check?.state === 'mismatch' || check?.state === 'failed';
}

export interface ModelVerifiedCondition {
  type: 'ModelVerified';
  status: 'True' | 'False' | 'Unknown';
  reason: 'ModelHashMismatch' | 'ModelCheckFailed' | 'HashMatches' | 'AwaitingModelCheck';
  message: string;
}

function more(n: number): string {
  return n > 0 ? ` (and ${n} more replica${n === 1 ? '' : 's'})` : '';
}

export function modelVerifiedCondition(
  replicas: ReadonlyArray<{ name: string; modelCheck?: ModelCheckObservation }>,
  expectedHash: string,
): ModelVerifiedCondition {
  const sorted = [...replicas].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const mismatched = sorted.filter((r) => r.modelCheck?.state === 'mismatch');
  if (mismatched.length > 0) {
    const first = mismatched[0]!;
    const check = first.modelCheck as Extract<ModelCheckObservation, { state: 'mismatch' }>;
    return {
      type: 'ModelVerified', status: 'False', reason: 'ModelHashMismatch',
      message: `replica ${first.name}: ${mismatchMessage(check.expected, check.computed)}${more(mismatched.length - 1)}`,
    };
  }
  const failed = sorted.filter((r) => r.modelCheck?.state === 'failed');
  if (failed.length > 0) {
    const first = failed[0]!;
    const check = first.modelCheck as Extract<ModelCheckObservation, { state: 'failed' }>;
    return {
      type: 'ModelVerified', status: 'False', reason: 'ModelCheckFailed',
      message: `replica ${first.name}: ${check.reason}: ${check.message}${more(failed.length - 1)}`.slice(0, 2048),
    };
  }
  // No count in the message: it would change as each replica finishes its check, and every change is a
  // status write of the pool (one per replica, for a condition that stays True). Which replicas checked
  // is on their Pods (the model check's terminated state).
  if (sorted.some((r) => r.modelCheck?.state === 'verified')) {
    return {
      type: 'ModelVerified', status: 'True', reason: 'HashMatches',
      message: `the model's files hash to spec.model.hash ${expectedHash} in every replica that has checked them`,
    };
  }
  return {
    type: 'ModelVerified', status: 'Unknown', reason: 'AwaitingModelCheck',
    message: `no replica has finished checking the model against spec.model.hash ${expectedHash} yet`,
  };
}
