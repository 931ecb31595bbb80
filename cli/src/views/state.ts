// How the CLI reads the operator's verdicts out of status: one place, so `status`, `nodes`, `pools` and
// `describe` agree on what "attested", "quarantined" and "ready" mean.
import type { AttestationPolicy, Condition, InferencePool, ProviderNode, SettlementAccount } from '../../../operator/src/api/index.js';
import { allowsAnyImage } from '../../../operator/src/attestation/policy.js';
import { policyNameOf } from '../../../operator/src/controllers/providernode/plan.js';

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export interface NodeState {
  attested: boolean;
  quarantined: boolean;
  /** Why the node is not usable (quarantine reason, Attested condition reason, last failure), if it is not. */
  reason: string;
}

export function nodeState(node: ProviderNode, now: Date = new Date()): NodeState {
  const conds = node.status?.conditions;
  const attestedCond = findCondition(conds, 'Attested');
  const quarantinedCond = findCondition(conds, 'Quarantined');
  const expires = node.status?.attestation?.expiresAt;
  const expired = expires !== undefined && Date.parse(expires) <= now.getTime();
  const attested = attestedCond?.status === 'True' && !expired;
  const quarantined = quarantinedCond?.status === 'True' || node.status?.quarantine !== undefined;
  let reason = '';
  if (quarantined) reason = node.status?.quarantine?.reason ?? quarantinedCond?.reason ?? 'Quarantined';
  else if (!attested) {
    // A missing policy outranks an old rejection: it is what must be fixed before anything can pass.
    reason = attestedCond?.reason === 'PolicyNotFound' ? 'PolicyNotFound'
      : expired ? 'EvidenceExpired' : node.status?.attestation?.lastFailure?.code ?? attestedCond?.reason ?? 'NotYetAttested';
  } else if (node.spec.cordoned) reason = 'Cordoned';
  return { attested, quarantined, reason };
}

export function poolReady(pool: InferencePool): boolean {
  return findCondition(pool.status?.conditions, 'Ready')?.status === 'True';
}

/** Why a pool is not ready: the Degraded, then Ready, then Progressing condition's reason. */
export function poolReason(pool: InferencePool): string {
  const conds = pool.status?.conditions;
  if (!pool.status) return 'NoStatusYet';
  const degraded = findCondition(conds, 'Degraded');
  if (degraded?.status === 'True') return degraded.reason;
  const ready = findCondition(conds, 'Ready');
  if (ready && ready.status !== 'True') return ready.reason;
  if (!ready) return 'NoReadyCondition';
  return '';
}

export interface SettlementHealth {
  healthy: boolean;
  reason: string;
}

/** Healthy unless Underfunded or EndpointUnreachable is True, or Synced is False. */
export function settlementHealth(account: SettlementAccount): SettlementHealth {
  const conds = account.status?.conditions;
  for (const bad of ['EndpointUnreachable', 'Underfunded']) {
    const c = findCondition(conds, bad);
    if (c?.status === 'True') return { healthy: false, reason: c.reason || bad };
  }
  const synced = findCondition(conds, 'Synced');
  if (synced?.status === 'False') return { healthy: false, reason: synced.reason || 'NotSynced' };
  if (!synced) return { healthy: true, reason: 'NoCommitYet' };
  return { healthy: true, reason: '' };
}

/** The operator's default policy name (its config's defaultPolicyName; the CRD defaults policyRef to it). */
const DEFAULT_POLICY_NAME = 'default';

export interface PolicyWarning {
  policy: string;
  reason: 'AllowsAnyImage';
  /** ProviderNodes in view that are verified against it. */
  nodes: number;
  message: string;
}

/**
 * Policies in use by `nodes` that admit any guest image (no allowedMeasurements or allowedImageHashes),
 * judged from the spec itself, so the warning shows even before the operator has written the policy's
 * AllowsAnyImage condition. A policy no node uses admits nothing and is not listed.
 */
export function policyWarnings(policies: readonly AttestationPolicy[], nodes: readonly ProviderNode[]): PolicyWarning[] {
  const users = new Map<string, number>();
  for (const n of nodes) {
    const name = policyNameOf(n, DEFAULT_POLICY_NAME);
    users.set(name, (users.get(name) ?? 0) + 1);
  }
  return policies
    .filter((p) => users.has(p.metadata.name ?? '') && allowsAnyImage(p.spec))
    .map((p) => {
      const count = users.get(p.metadata.name ?? '')!;
      return {
        policy: p.metadata.name ?? '',
        reason: 'AllowsAnyImage' as const,
        nodes: count,
        message: `AttestationPolicy "${p.metadata.name}" allows ANY guest image (no allowedMeasurements or allowedImageHashes) on ${count} node(s): set spec.allowedImageHashes or spec.allowedMeasurements`,
      };
    })
    .sort((a, b) => a.policy.localeCompare(b.policy));
}
