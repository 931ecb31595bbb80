// The AttestationPolicy controller: observe (the policy and the ProviderNodes that name it) → plan
// (plan.ts) → act (status through the status subresource, only when changed; events). And the default
// policy: created from the configuration whenever none of its name exists (default-policy.ts).
import type { AttestationPolicy } from '../../api/attestationpolicy.js';
import type { ProviderNode } from '../../api/providernode.js';
import { AttestationPolicies } from '../../kube/chrysalis-resources.js';
import type { ReconcileResult, Reconciler } from '../../kube/controller.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';
import { BY_POLICY, policyNameIndexer } from '../../kube/indexes.js';
import { parseObjectKey, type KubeObject } from '../../kube/resource.js';
import { isConflict, isNotFound } from '../../kube/rest.js';
import type { Store } from '../../kube/store.js';
import { planPolicyStatus } from './plan.js';
import { defaultPolicyToCreate } from './default-policy.js';

export const KIND = 'AttestationPolicy';

export interface AttestationPolicyDeps extends ReconcilerDeps {
  policies: Store<AttestationPolicy & KubeObject>;
  /** Indexed by the policy each names (BY_POLICY): a policy's count without a scan of every node. */
  providerNodes: Store<ProviderNode & KubeObject>;
}

export class AttestationPolicyReconciler implements Reconciler {
  constructor(private readonly deps: AttestationPolicyDeps) {
    deps.providerNodes.addIndexer(BY_POLICY, policyNameIndexer(deps.config.defaultPolicyName));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { name } = parseObjectKey(key);
    const policy = this.deps.policies.get(undefined, name);
    if (!policy) {
      // Absent: the default one is created (from the cache's view; a policy created meanwhile makes the
      // create answer 409, and what exists is kept). Any other: its ProviderNodes say PolicyNotFound.
      const create = defaultPolicyToCreate(this.deps.config, name);
      if (!create) return;
      try {
        const created = await this.deps.client.create<AttestationPolicy & KubeObject>(AttestationPolicies, create);
        await this.deps.events.record(created, { type: 'Normal', reason: 'CreatedAsDefault', action: 'Create', message: `no AttestationPolicy named ${name} existed, and ProviderNodes without a policyRef are verified against it: created from the operator's defaultPolicySpec (the chart's defaultPolicy values); yours to edit, the operator never changes it` });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      return;
    }
    const nodes = this.deps.providerNodes.countByIndex(BY_POLICY, name);
    const plan = planPolicyStatus({ policy, nodes, now: (this.deps.now ?? (() => new Date()))() });
    let updated: AttestationPolicy & KubeObject;
    try {
      ({ object: updated } = await this.deps.client.applyStatusIfChanged(AttestationPolicies, policy, plan.status));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const event of plan.events) await this.deps.events.record(updated, event);
  }
}
