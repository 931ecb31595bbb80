// What an AttestationPolicy's status says, as a pure function of the policy and the ProviderNodes that
// use it. The policy's own status is where its risk is reported: a policy with no measurement or image
// allow list admits any guest image on genuine hardware (the host's own, one built to read models and
// prompts), so it carries AllowsAnyImage=True and a Warning event, and `kubectl get apol` shows it.
import type { AttestationPolicy, AttestationPolicyStatus } from '../../api/attestationpolicy.js';
import { allowsAnyImage } from '../../attestation/policy.js';
import { getCondition, setCondition, type Condition } from '../../kube/conditions.js';

export interface PolicyObservation {
  policy: AttestationPolicy;
  /** ProviderNodes whose policyRef (or the default) names this policy. */
  nodes: number;
  now: Date;
}

export interface PolicyEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  message: string;
}

export interface PolicyStatusPlan {
  status: AttestationPolicyStatus;
  events: PolicyEvent[];
}

/** The AllowsAnyImage condition's message: what is wrong, what it lets in, and the fix. */
export function allowsAnyImageMessage(name: string, nodes: number): string {
  return `WARNING: AttestationPolicy "${name}" has no allowedMeasurements or allowedImageHashes, so any guest image on ` +
    `genuine hardware is attested, including one the host built to read models and prompts (${nodes} ProviderNode(s) use it). ` +
    'Pin the images you run: set spec.allowedImageHashes or spec.allowedMeasurements.';
}

export function planPolicyStatus(o: PolicyObservation): PolicyStatusPlan {
  const { policy, nodes, now } = o;
  const name = policy.metadata.name ?? '';
  const generation = policy.metadata.generation ?? 0;
  const prev = policy.status ?? {};
  const anyImage = allowsAnyImage(policy.spec);
  const measurements = policy.spec.allowedMeasurements?.length ?? 0;
  const images = policy.spec.allowedImageHashes?.length ?? 0;
  const conditions = setCondition((prev.conditions ?? []) as Condition[], anyImage
    ? { type: 'AllowsAnyImage', status: 'True', observedGeneration: generation, reason: 'NoImageAllowList', message: allowsAnyImageMessage(name, nodes) }
    : { type: 'AllowsAnyImage', status: 'False', observedGeneration: generation, reason: 'ImageAllowListSet', message: `only ${measurements} allowed measurement(s) and ${images} allowed image hash(es) are attested` },
    now);
  const events: PolicyEvent[] = [];
  if (anyImage && getCondition(prev.conditions, 'AllowsAnyImage')?.status !== 'True') {
    events.push({ type: 'Warning', reason: 'AllowsAnyImage', action: 'Validate', message: allowsAnyImageMessage(name, nodes) });
  }
  return {
    status: { ...prev, observedGeneration: generation, conditions: conditions as AttestationPolicyStatus['conditions'], nodes },
    events,
  };
}
