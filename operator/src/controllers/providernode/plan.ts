// The ProviderNode controller's decisions, as a pure function of what it observed.
//
// Who writes what. ProviderNode status has three writers; each owns its fields under its own field
// manager and writes only those, so none can put back what another changed:
//   - this controller (field manager chrysalis-operator, server-side apply of ControllerStatus below):
//     observedGeneration, the conditions Attested / Quarantined / Schedulable, capacity, allocated,
//     quarantine, attestation.challenge (issued when attestation is needed, withdrawn when not), and
//     attestation.reattestRequest (the re-check request it last answered: early-recheck.ts).
//     Its apply is conditioned on the resourceVersion the plan was made from: a plan from a cache that
//     lags behind another writer is refused (409) and made again from the newer object, so a challenge
//     the service consumed meanwhile is never issued again.
//   - the attestation service (chrysalis-attestation-service, merge patches conditioned on the
//     resourceVersion it checked): the verdict in status.attestation (verifiedAt, expiresAt, the claims,
//     publicKey, pendingRejections, lastFailure, replicaFailure), the challenge's consumption, status.attestedReplicas.
//   - metering (chrysalis-metering, merge patches conditioned likewise): status.usage, status.usageCursors.
// The controller derives its fields from the others' facts and the clock, and also puts the marks on the
// Node (label, taint, cordon) and decides which replica Pods must leave a quarantined node.
// Fail closed: a node is attested only while a verdict says so and has not lapsed, and only while the
// AttestationPolicy it is verified against exists. A policyRef that names no policy (a typo, a deleted
// policy, no "default" installed) never falls back to "no constraints": the node is not attested and is
// not challenged until the policy appears.
import { createHash } from 'node:crypto';
import { challengeLapsesAt, challengeLifetimeSeconds } from '../../attestation/challenge-lifetime.js';
import type { ProviderNode, ProviderNodeStatus, ProviderNodeStatusAttestationChallenge } from '../../api/providernode.js';
import { setCondition, getCondition, type Condition } from '../../kube/conditions.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../marks.js';
import type { ChallengeKind } from './challenge-slots.js';
import { earlyRecheckOf } from './early-recheck.js';

/**
 * When a node waiting for a challenge slot looks again if no freed slot woke it first: only a safety net
 * (a slot is handed over at a verdict or when a hold runs out, by timer), and at a cold start most of the
 * fleet waits, so a short one would re-plan thousands of nodes for nothing.
 */
export const CHALLENGE_SLOT_RETRY_MS = 120_000;

export interface ObservedNode {
  exists: boolean;
  ready: boolean;
  /** Node.spec.unschedulable as someone other than us set it (kubectl cordon). */
  cordonedByOthers: boolean;
  allocatableGpus: number;
}

export interface PolicyTiming {
  reattestIntervalSeconds: number;
  quarantineGraceSeconds: number;
  /** How long a challenge issued now may be answered: the operator's TTL, capped by the policy's evidence age (challenge-lifetime.ts). */
  challengeTtlSeconds: number;
}

/**
 * Schedule fields of the node's policy. Without a policy the plan issues no challenge; these defaults (the
 * CRD's) only time the expiry of a verdict already recorded. A node's challenge lives no longer than the
 * evidence age its policy allows (challenge-lifetime.ts).
 */
export function policyTiming(policy: { reattestIntervalSeconds?: number; quarantineGraceSeconds?: number; maxEvidenceAgeSeconds?: number } | undefined, challengeTtlSeconds: number): PolicyTiming {
  return {
    reattestIntervalSeconds: policy?.reattestIntervalSeconds ?? 3600,
    quarantineGraceSeconds: policy?.quarantineGraceSeconds ?? 300,
    challengeTtlSeconds: challengeLifetimeSeconds(challengeTtlSeconds, policy),
  };
}

export interface ReplicaOnNode {
  namespace: string;
  name: string;
  uid: string;
  gpus: number;
  terminating: boolean;
}

/** The AttestationPolicy this node is verified against, as the controller found it. */
export interface ObservedPolicy {
  /** spec.policyRef.name, or the operator's default policy name when the ref is absent. */
  name: string;
  /** True when `name` is the operator's default policy (spec.policyRef absent or naming it). */
  isDefault: boolean;
  /** Whether an AttestationPolicy of that name exists. */
  found: boolean;
}

export interface ProviderNodeObservation {
  providerNode: ProviderNode;
  node: ObservedNode;
  policy: ObservedPolicy;
  replicas: readonly ReplicaOnNode[];
  timing: PolicyTiming;
  now: Date;
  /** A fresh 32-byte nonce, hex; called only when a new challenge is due. */
  newNonce: () => string;
  /**
   * Whether a new challenge may be issued now (challenge-slots.ts: challenges outstanding are bounded by
   * what verification absorbs); called only when a new challenge is due. `overdue`: a re-attestation that
   * has waited as long as it may (reattestationOverdueAt), which takes a slot beyond the bound. Absent: always.
   */
  acquireChallengeSlot?: (kind: ChallengeKind, overdue: boolean) => boolean;
}

/**
 * From when a verified node's re-check may no longer wait for a challenge slot: once the attestation's
 * expiry is less than half a challenge's lifetime away (the slack between the re-check's due time and
 * the expiry is challengeTtlSeconds, the longest lifetime, so at least half of it is left). The
 * bound paces challenges to what verification absorbs, but it holds each slot until the verdict comes
 * back (or 30 s): when every round trip is slow, 96 re-attestation slots let through fewer re-checks
 * than the fleet needs, and nodes lapsed for want of a challenge (the chaos bench at 2,000 nodes
 * re-checked every 300 s: 1,768 nodes waiting, verified nodes expiring). A node lapsing because the
 * operator throttled it is worse than a longer verifier queue, so the bound delays a re-check only until
 * half a challenge's lifetime is left before the expiry, which is left for the answer's round trip.
 */
export function reattestationOverdueAt(expiresAtMs: number, challengeLifetimeSeconds: number): number {
  return expiresAtMs - (challengeLifetimeSeconds * 1000) / 2;
}

/**
 * When a verified node's next re-check falls due: at the node's own phase of the re-check interval, the
 * last such instant no later than one interval after the verification. Each node's phase is fixed (from
 * its name), so once a node has been re-checked on its phase every later re-check comes exactly one
 * interval after the one before, as the policy asks, and the phases of a fleet are spread evenly over
 * the interval however its nodes were admitted. Due one interval after each verification instead, a
 * fleet admitted at once came due at once, every interval: at 2,000 nodes re-checked every 300 s the
 * chaos bench saw the whole fleet wait for challenge slots in one wave, 1,074 re-checks go out overdue in
 * one minute, and that burst slow every other answer. The price is one early re-check per node after its
 * admission (its first phase instant may come soon after), which spends at the policy's steady rate what
 * the wave spent at once. Never later than one interval: the expiry (verifiedAt + interval + challenge
 * lifetime) keeps the challenge lifetime as its slack.
 */
export function reattestationDueAt(verifiedAtMs: number, intervalSeconds: number, nodeName: string): number {
  const intervalMs = Math.max(1, Math.round(intervalSeconds * 1000));
  const latest = verifiedAtMs + intervalMs;
  const sinceLastPhase = (((latest - reattestationPhaseMs(nodeName, intervalMs)) % intervalMs) + intervalMs) % intervalMs;
  return latest - sinceLastPhase;
}

/** The node's phase within the re-check interval: the first 48 bits of SHA-256 of its name, modulo the interval. */
export function reattestationPhaseMs(nodeName: string, intervalMs: number): number {
  return createHash('sha256').update(nodeName).digest().readUIntBE(0, 6) % intervalMs;
}

export interface NodeMarks {
  attestedLabel: boolean;
  unattestedTaint: boolean;
  /** We cordon a quarantined node; uncordoning is ours only for a cordon we set. */
  cordon: boolean;
  tee: string;
  gpuModel: string;
}

export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  message: string;
}

/** The fields of ProviderNode status this controller owns (see the header); nothing else is applied. */
export interface ControllerStatus {
  observedGeneration?: ProviderNodeStatus['observedGeneration'];
  conditions?: ProviderNodeStatus['conditions'];
  attestation?: { challenge?: ProviderNodeStatusAttestationChallenge; reattestRequest?: string };
  capacity?: ProviderNodeStatus['capacity'];
  allocated?: ProviderNodeStatus['allocated'];
  quarantine?: ProviderNodeStatus['quarantine'];
}

/** The controller's part of status.attestation: the challenge and the request it answered, absent when neither is set. */
function controllerAttestation(challenge: ProviderNodeStatusAttestationChallenge | undefined, reattestRequest: string | undefined): Pick<ControllerStatus, 'attestation'> {
  if (!challenge && reattestRequest === undefined) return {};
  return { attestation: { ...(challenge ? { challenge } : {}), ...(reattestRequest !== undefined ? { reattestRequest } : {}) } };
}

/** The controller's fields of a status as it stands, to compare with a plan (no write when equal). */
export function controllerStatusOf(status: ProviderNodeStatus | undefined): ControllerStatus {
  const s = status ?? {};
  return {
    ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
    ...(s.conditions ? { conditions: s.conditions } : {}),
    ...controllerAttestation(s.attestation?.challenge, s.attestation?.reattestRequest),
    ...(s.capacity ? { capacity: s.capacity } : {}),
    ...(s.allocated ? { allocated: s.allocated } : {}),
    ...(s.quarantine ? { quarantine: s.quarantine } : {}),
  };
}

export interface ProviderNodePlan {
  /** Only the controller's own fields: applying it leaves every other writer's fields as they are. */
  status: ControllerStatus;
  marks: NodeMarks;
  /** Replica Pods to remove from the node (quarantine). */
  evict: ReplicaOnNode[];
  events: PlannedEvent[];
  /** When to look again even if nothing changes (an expiry, a due re-attestation). */
  requeueAfterMs?: number;
  /** A new challenge is due but no slot was free: the node is challenged when one is handed to it. */
  waitingForChallengeSlot?: boolean;
}

type AttestationVerdict =
  | { state: 'attested' }
  | { state: 'never' }
  | { state: 'rejected'; code: string; message: string; wasAttested: boolean }
  | { state: 'expired'; expiredAt: Date };

const ms = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

/** What the recorded verdicts say about this instant. */
export function attestationVerdict(status: ProviderNodeStatus | undefined, now: Date): AttestationVerdict {
  const a = status?.attestation;
  const verifiedAt = ms(a?.verifiedAt);
  const expiresAt = ms(a?.expiresAt);
  const failedAt = ms(a?.lastFailure?.at);
  if (failedAt !== undefined && (verifiedAt === undefined || failedAt > verifiedAt)) {
    return { state: 'rejected', code: a?.lastFailure?.code ?? 'UNKNOWN', message: a?.lastFailure?.message ?? '', wasAttested: verifiedAt !== undefined };
  }
  if (verifiedAt === undefined || expiresAt === undefined) return { state: 'never' };
  if (expiresAt <= now.getTime()) return { state: 'expired', expiredAt: new Date(expiresAt) };
  return { state: 'attested' };
}

/** The AttestationPolicy a ProviderNode names (spec.policyRef.name), or the operator's default. */
export function policyNameOf(pn: ProviderNode, defaultPolicyName: string): string {
  return pn.spec.policyRef?.name || defaultPolicyName;
}

/** Why a node whose policy does not exist is not attested, and how to fix it. */
export function policyNotFoundMessage(policy: ObservedPolicy): string {
  const consequence = 'no evidence is verified without a policy, so the node is not attested and gets no challenge';
  return policy.isDefault
    ? `the default AttestationPolicy "${policy.name}" (spec.policyRef.name) does not exist: ${consequence}; ` +
        `install the chart's default policy or create AttestationPolicy "${policy.name}", or set spec.policyRef.name to an existing policy (kubectl get attestationpolicies)`
    : `spec.policyRef.name "${policy.name}" names no AttestationPolicy: ${consequence}; ` +
        `correct the name (kubectl get attestationpolicies) or create AttestationPolicy "${policy.name}"`;
}

export function planProviderNode(o: ProviderNodeObservation): ProviderNodePlan {
  const pn = o.providerNode;
  const prev = pn.status ?? {};
  const now = o.now;
  const nowMs = now.getTime();
  const generation = pn.metadata.generation ?? 0;
  const verdict = attestationVerdict(prev, now);
  const attestedGpuCount = prev.attestation?.gpus?.length;
  const expectedGpus = pn.spec.gpus.count;
  // A pod-cvm node's own evidence carries no GPU (each replica's VM proves its GPUs): 0 attested is expected.
  const expectedAttestedGpus = (pn.spec.topology ?? 'node-cvm') === 'pod-cvm' ? 0 : expectedGpus;
  const requeue: number[] = [];

  // --- Quarantine: evidence that once passed no longer does. ---
  let quarantine: { reason: string; message: string } | undefined;
  if (verdict.state === 'rejected' && verdict.wasAttested) {
    quarantine = { reason: 'ReattestationFailed', message: `re-attestation rejected: ${verdict.code}: ${verdict.message}` };
  } else if (verdict.state === 'expired') {
    const graceEnds = verdict.expiredAt.getTime() + o.timing.quarantineGraceSeconds * 1000;
    if (nowMs >= graceEnds) quarantine = { reason: 'AttestationExpired', message: `attestation expired at ${verdict.expiredAt.toISOString()} and no fresh evidence arrived within ${o.timing.quarantineGraceSeconds}s` };
    else requeue.push(graceEnds - nowMs);
  } else if (verdict.state === 'attested' && o.node.exists && o.node.allocatableGpus !== expectedGpus) {
    quarantine = { reason: 'GpuStateChanged', message: `node advertises ${o.node.allocatableGpus} GPUs but ${expectedGpus} were declared and attested` };
  } else if (verdict.state === 'attested' && attestedGpuCount !== undefined && attestedGpuCount !== expectedAttestedGpus) {
    quarantine = { reason: 'GpuStateChanged', message: `evidence covered ${attestedGpuCount} GPUs but ${expectedAttestedGpus} are expected (${expectedGpus} declared, topology ${pn.spec.topology ?? 'node-cvm'})` };
  }
  // A quarantine stays until evidence passes again after it began.
  const wasQuarantined = getCondition(prev.conditions, 'Quarantined')?.status === 'True';
  if (!quarantine && wasQuarantined && verdict.state !== 'attested') {
    quarantine = { reason: getCondition(prev.conditions, 'Quarantined')?.reason ?? 'Quarantined', message: getCondition(prev.conditions, 'Quarantined')?.message ?? 'quarantined' };
  }
  const policyMissing = !o.policy.found;
  const attested = verdict.state === 'attested' && !quarantine && !policyMissing;

  // --- Challenge: issue one whenever fresh evidence is wanted; keep it while it is valid. ---
  // Without a policy there is nothing to verify evidence against: no challenge, and a pending one is
  // withdrawn (the policy's informer event brings the node back here when the policy appears).
  const verifiedAt = ms(prev.attestation?.verifiedAt);
  const reattestDueAt = verifiedAt === undefined ? undefined : reattestationDueAt(verifiedAt, o.timing.reattestIntervalSeconds, pn.metadata.name ?? pn.spec.nodeName);
  // Re-checks ahead of the schedule (early-recheck.ts): one asked for, with a new nonce even if one is
  // pending (evidence for a nonce issued before the request would not be the fresh look asked for), and
  // one for a host a replica's failure made suspect, beyond the challenge bound as a lapsing re-check is
  // (a pending challenge is kept: its evidence is made when answered).
  const early = earlyRecheckOf(pn, verdict.state === 'attested');
  let reattestRequest = prev.attestation?.reattestRequest;
  const reattestDue = reattestDueAt === undefined || verdict.state !== 'attested' || nowMs >= reattestDueAt
    || early.pendingRequest !== undefined || early.answeringRequest || early.suspect !== undefined;
  const challengeWanted = reattestDue && !policyMissing;
  if (verdict.state === 'attested' && reattestDueAt !== undefined && !reattestDue) requeue.push(reattestDueAt - nowMs);
  let challenge = challengeWanted ? prev.attestation?.challenge : undefined;
  let waitingForChallengeSlot = false;
  let challengedBecauseSuspect = false;
  let answeredRequest = false;
  if (challengeWanted) {
    // Replaced once it lapses — expired, or older than the lifetime now allowed (the policy's evidence age
    // was lowered since it was issued), when it could only be answered too old — or when a re-check is asked for.
    if (!challenge || !(challengeLapsesAt(challenge, o.timing.challengeTtlSeconds) > nowMs) || early.pendingRequest !== undefined) {
      // A node verified before is being re-checked: it draws on the re-attestation share of the slots.
      const kind: ChallengeKind = verifiedAt !== undefined ? 'reattestation' : 'admission';
      const expiresAt = ms(prev.attestation?.expiresAt);
      const overdueAt = kind === 'reattestation' && expiresAt !== undefined ? reattestationOverdueAt(expiresAt, o.timing.challengeTtlSeconds) : undefined;
      const overdue = (overdueAt !== undefined && nowMs >= overdueAt) || early.suspect !== undefined;
      if (o.acquireChallengeSlot && !o.acquireChallengeSlot(kind, overdue)) {
        challenge = undefined;
        waitingForChallengeSlot = true;
        requeue.push(CHALLENGE_SLOT_RETRY_MS);
        // Looked at again when it becomes overdue, if no slot was handed to it before.
        if (overdueAt !== undefined) requeue.push(overdueAt - nowMs);
      } else {
        challenge = {
          nonce: o.newNonce(),
          issuedAt: now.toISOString(),
          expiresAt: new Date(nowMs + o.timing.challengeTtlSeconds * 1000).toISOString(),
        };
        // Answered by this challenge: the same value asks for nothing more.
        if (early.pendingRequest !== undefined) reattestRequest = early.pendingRequest;
        answeredRequest = early.pendingRequest !== undefined;
        challengedBecauseSuspect = early.suspect !== undefined;
      }
    }
    if (challenge) requeue.push(challengeLapsesAt(challenge, o.timing.challengeTtlSeconds) - nowMs);
  }
  if (verdict.state === 'attested') requeue.push(Date.parse(prev.attestation!.expiresAt!) - nowMs);

  // --- Conditions. ---
  let conditions: Condition[] = [...((prev.conditions ?? []) as Condition[])];
  const attestedCondition = (() => {
    // The same words at every re-attestation: a message naming the verification's time would change at
    // each one, and this controller would write the status once more per node per period only for that
    // (the times are in status.attestation, the EXPIRES column, and the Attested event).
    if (attested) return { status: 'True' as const, reason: 'Verified', message: `evidence verified against AttestationPolicy "${o.policy.name}", re-checked every ${o.timing.reattestIntervalSeconds} s (times: status.attestation.verifiedAt, expiresAt)` };
    if (policyMissing) return { status: 'False' as const, reason: 'PolicyNotFound', message: policyNotFoundMessage(o.policy) };
    switch (verdict.state) {
      case 'never': return { status: 'False' as const, reason: 'AwaitingEvidence', message: waitingForChallengeSlot
        ? 'no verified evidence yet; waiting for a challenge: the operator keeps at most maxOutstandingChallenges outstanding and issues this node one when a slot frees'
        : 'no verified evidence yet; the node attester must answer the challenge in status.attestation.challenge' };
      case 'rejected': return { status: 'False' as const, reason: 'EvidenceRejected', message: `${verdict.code}: ${verdict.message}` };
      case 'expired': return { status: 'False' as const, reason: 'AttestationExpired', message: `attestation expired at ${verdict.expiredAt.toISOString()}` };
      case 'attested': return { status: 'False' as const, reason: quarantine?.reason ?? 'Quarantined', message: quarantine?.message ?? '' };
    }
  })();
  conditions = setCondition(conditions, { type: 'Attested', observedGeneration: generation, ...attestedCondition }, now);
  conditions = setCondition(conditions, quarantine
    ? { type: 'Quarantined', status: 'True', observedGeneration: generation, reason: quarantine.reason, message: quarantine.message }
    : { type: 'Quarantined', status: 'False', observedGeneration: generation, reason: wasQuarantined ? 'Recovered' : 'Healthy', message: wasQuarantined ? 'fresh evidence passed; quarantine lifted' : 'no quarantine' }, now);
  const unschedulableBecause =
    !o.node.exists ? ['NodeMissing', `Node ${pn.spec.nodeName} does not exist`] :
    quarantine ? ['Quarantined', quarantine.message] :
    !attested ? ['NotAttested', attestedCondition.message] :
    pn.spec.cordoned ? ['Cordoned', 'spec.cordoned is true'] :
    o.node.cordonedByOthers ? ['NodeCordoned', `Node ${pn.spec.nodeName} is cordoned`] :
    !o.node.ready ? ['NodeNotReady', `Node ${pn.spec.nodeName} is not Ready`] :
    undefined;
  conditions = setCondition(conditions, unschedulableBecause
    ? { type: 'Schedulable', status: 'False', observedGeneration: generation, reason: unschedulableBecause[0]!, message: unschedulableBecause[1]! }
    : { type: 'Schedulable', status: 'True', observedGeneration: generation, reason: 'Ready', message: `${o.node.allocatableGpus} GPUs available to attested replicas` }, now);

  // --- Events: one per condition transition. ---
  const events: PlannedEvent[] = [];
  const before = (t: string) => getCondition(prev.conditions, t)?.status;
  if (before('Attested') !== 'True' && attested) events.push({ type: 'Normal', reason: 'Attested', action: 'Verify', message: `evidence verified at ${prev.attestation?.verifiedAt}, valid until ${prev.attestation?.expiresAt}` });
  if (before('Attested') === 'True' && !attested && !quarantine && !policyMissing) events.push({ type: 'Warning', reason: attestedCondition.reason, action: 'Verify', message: attestedCondition.message });
  if (policyMissing && getCondition(prev.conditions, 'Attested')?.reason !== 'PolicyNotFound') {
    events.push({ type: 'Warning', reason: 'PolicyNotFound', action: 'Verify', message: attestedCondition.message });
  }
  if (verdict.state === 'rejected' && !verdict.wasAttested && !policyMissing && getCondition(prev.conditions, 'Attested')?.reason !== 'EvidenceRejected') {
    events.push({ type: 'Warning', reason: 'EvidenceRejected', action: 'Verify', message: attestedCondition.message });
  }
  if (!wasQuarantined && quarantine) events.push({ type: 'Warning', reason: 'Quarantined', action: 'Quarantine', message: `${quarantine.reason}: ${quarantine.message}` });
  if (wasQuarantined && !quarantine) events.push({ type: 'Normal', reason: 'Recovered', action: 'Verify', message: 'fresh evidence passed; quarantine lifted' });
  if (challengedBecauseSuspect) {
    const f = early.suspect!;
    events.push({ type: 'Warning', reason: 'HostSuspect', action: 'Challenge', message: `replica ${f.pod}'s evidence failed on state this host shares with it (${f.code}, at ${f.at}): the host is challenged now, ahead of its schedule` });
  }
  if (answeredRequest) {
    events.push({ type: 'Normal', reason: 'ReattestRequested', action: 'Challenge', message: `re-check asked for (${ANNOTATION_REATTEST_REQUEST}): challenged now, ahead of the schedule; the node keeps its current verdict until the evidence is judged` });
  }

  // Only the controller's fields: a field left out that the controller set before (a withdrawn
  // challenge, a lifted quarantine) is removed by the apply; the others' fields are not touched.
  const status: ControllerStatus = {
    observedGeneration: generation,
    conditions: conditions as ProviderNodeStatus['conditions'],
    // reattestRequest is sent at every apply once set: an apply that left it out would remove it, and the
    // same request would be answered again.
    ...controllerAttestation(challengeWanted ? challenge : undefined, reattestRequest),
    capacity: { gpus: o.node.exists ? o.node.allocatableGpus : 0 },
    allocated: { gpus: o.replicas.filter((r) => !r.terminating).reduce((n, r) => n + r.gpus, 0) },
    ...(quarantine ? { quarantine: { reason: quarantine.reason, since: wasQuarantined && prev.quarantine?.since ? prev.quarantine.since : now.toISOString() } } : {}),
  };

  const evict = quarantine ? o.replicas.filter((r) => !r.terminating) : [];
  for (const r of evict) events.push({ type: 'Warning', reason: 'ReplicaEvicted', action: 'Evict', message: `evicting ${r.namespace}/${r.name}: node quarantined (${quarantine!.reason})` });

  const positive = requeue.filter((d) => d > 0);
  return {
    status,
    marks: { attestedLabel: attested, unattestedTaint: !attested, cordon: quarantine !== undefined, tee: pn.spec.tee, gpuModel: pn.spec.gpus.model },
    evict,
    events,
    ...(positive.length ? { requeueAfterMs: Math.min(...positive) + 50 } : {}),
    ...(waitingForChallengeSlot ? { waitingForChallengeSlot } : {}),
  };
}
