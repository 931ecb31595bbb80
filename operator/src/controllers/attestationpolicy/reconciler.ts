// The AttestationPolicy status controller: observe (the policy and the ProviderNodes that name it) →
// plan (plan.ts) → act (status through the status subresource, only when changed; events).
import type { AttestationPolicy } from '../../api/attestationpolicy.js';
import type { ProviderNode } from '../../api/providernode.js';
import type { OperatorConfig } from '../../config.js';
import type { KubeClient } from '../../kube/apply.js';
import { AttestationPolicies } from '../../kube/chrysalis-resources.js';
import type { ReconcileResult, Reconciler } from '../../kube/controller.js';
import type { EventRecorder } from '../../kube/events.js';
import { BY_POLICY, policyNameIndexer } from '../../kube/indexes.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import { objectKey, parseObjectKey, type KubeObject } from '../../kube/resource.js';
import { isNotFound } from '../../kube/rest.js';
import type { Store } from '../../kube/store.js';
import { policyNameOf } from '../providernode/plan.js';
import { planPolicyStatus } from './plan.js';

const KIND = 'AttestationPolicy';

export interface AttestationPolicyDeps {
  client: KubeClient;
  events: EventRecorder;
  config: OperatorConfig;
  policies: Store<AttestationPolicy & KubeObject>;
  /** Indexed by the policy each names (BY_POLICY): a policy's count without a scan of every node. */
  providerNodes: Store<ProviderNode & KubeObject>;
  now?: () => Date;
}

export class AttestationPolicyReconciler implements Reconciler {
  constructor(private readonly deps: AttestationPolicyDeps) {
    deps.providerNodes.addIndexer(BY_POLICY, policyNameIndexer(deps.config.defaultPolicyName));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { name } = parseObjectKey(key);
    const policy = this.deps.policies.get(undefined, name);
    if (!policy) return; // deleted: its ProviderNodes say PolicyNotFound
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

/** Wires the controller: every policy, and a policy's key again whenever a ProviderNode starts or stops naming it. */
export function attestationPolicyController(manager: Manager, config: OperatorConfig, informers: {
  policies: Informer<AttestationPolicy & KubeObject>;
  providerNodes: Informer<ProviderNode & KubeObject>;
}) {
  const reconciler = new AttestationPolicyReconciler({ client: manager.client, events: manager.events, config, ...informers });
  const controller = manager.controller({ name: 'attestationpolicy', reconciler, workers: 1 });
  const keyOf = (pn: ProviderNode) => objectKey(KIND, undefined, policyNameOf(pn, config.defaultPolicyName));
  controller
    .watch(informers.policies)
    // Registered for its cache sync only: a node's status changes often and never changes a count.
    .watch(informers.providerNodes, () => []);
  informers.providerNodes
    .onAdd((pn) => controller.enqueue(keyOf(pn)))
    .onDelete((pn) => controller.enqueue(keyOf(pn)))
    // A ProviderNode that changes its policyRef moves from one policy's count to another's.
    .onUpdate((old, pn) => {
      if (keyOf(old) === keyOf(pn)) return;
      controller.enqueue(keyOf(old));
      controller.enqueue(keyOf(pn));
    });
  return { controller, reconciler };
}
