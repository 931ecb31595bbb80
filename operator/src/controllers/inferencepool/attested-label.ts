// When a replica Pod carries the routing label chrysalis.dev/attested=true: a pure plan of label adds and
// removals, beside planReplicas (plan.ts), which decides the readiness-gate flips.
//
// The pool's Service and its Gateway API InferencePool select replicas by this label (endpoint.ts,
// gateway-inference-pool.ts). A gateway or kube-proxy acts on a label change sooner than on a readiness
// change (readiness goes Pod status → EndpointSlice → proxy, and an endpoint picker may not read
// readiness at all), so the label is what keeps a lapsed replica out of routing:
//  - labelled iff the replica is bound, not terminating, its gate is True, and the expiry the attestation
//    service recorded for exactly this Pod (its host ProviderNode's status.attestedReplicas) is more than
//    `leadMs` away. Only a passing verdict records an expiry (a failure revokes it), so "recorded and in
//    the future" is "Verified and fresh". Nothing on the Pod itself (annotations, its own labels) counts:
//    anyone who may patch the Pod could write those.
//  - removed `leadMs` before the recorded expiry, and whenever the gate is not True or the record is gone;
//    the gate flip of an expired replica (planReplicas) is done only after its label is gone
//    (reconciler.ts), so the label never outlives the gate.
//  - added back only once a new verdict records a new expiry: an expired record never re-adds it.
import type { ReplicaObservation } from './plan.js';

/** How long before the recorded expiry the label goes (default 15 s): the time routing takes to notice. */
export const DEFAULT_LABEL_LEAD_MS = 15_000;

export interface AttestedLabelPlan {
  /** Replicas to label (the add is conditioned on the Pod as observed). */
  adds: string[];
  /** Replicas to unlabel (unconditionally: a removal is always safe). */
  removes: string[];
  /** Look again after this long (the next label removal due); undefined when none is. */
  requeueAfterMs?: number;
}

/** Whether the replica should carry the label at `now` (the rule in the header). */
export function shouldCarryAttestedLabel(r: ReplicaObservation, now: Date, leadMs = DEFAULT_LABEL_LEAD_MS): boolean {
  if (r.terminating || r.node === undefined || r.gate !== 'True' || r.attestationExpires === undefined) return false;
  return r.attestationExpires.getTime() - leadMs > now.getTime();
}

/**
 * Label changes for the replicas that stay (planReplicas' `kept`): replicas being deleted leave routing
 * by terminating. A Pod that carries the label when it should not loses it whoever put it there.
 */
export function planAttestedLabels(kept: readonly ReplicaObservation[], now: Date, leadMs = DEFAULT_LABEL_LEAD_MS): AttestedLabelPlan {
  const adds: string[] = [];
  const removes: string[] = [];
  let nextVisit: number | undefined;
  for (const r of kept) {
    const should = shouldCarryAttestedLabel(r, now, leadMs);
    const has = r.attestedLabel === true;
    if (should && !has) adds.push(r.name);
    if (!should && has) removes.push(r.name);
    if (should) {
      const due = (r.attestationExpires as Date).getTime() - leadMs;
      nextVisit = nextVisit === undefined ? due : Math.min(nextVisit, due);
    }
  }
  return { adds, removes, ...(nextVisit !== undefined ? { requeueAfterMs: Math.max(0, nextVisit - now.getTime()) } : {}) };
}
