// Wiring of the AttestationPolicy status controller into a Manager (the ProviderNode controller's wiring
// calls it, since both read the same ProviderNode and policy caches).
import type { AttestationPolicy } from '../../api/attestationpolicy.js';
import type { ProviderNode } from '../../api/providernode.js';
import type { OperatorConfig } from '../../config.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import { objectKey, type KubeObject } from '../../kube/resource.js';
import { policyNameOf } from '../providernode/plan.js';
import { AttestationPolicyReconciler, KIND } from './reconciler.js';

/**
 * Wires the controller: every policy, a policy's key again whenever a ProviderNode starts or stops naming
 * it, and the default policy's key at start.
 */
export function attestationPolicyController(manager: Manager, config: OperatorConfig, informers: {
  policies: Informer<AttestationPolicy & KubeObject>;
  providerNodes: Informer<ProviderNode & KubeObject>;
}) {
  const reconciler = new AttestationPolicyReconciler({ client: manager.client, events: manager.events, config, ...informers });
  const controller = manager.controller({ name: 'attestationpolicy', reconciler, workers: 1 });
  const keyOf = (pn: ProviderNode) => objectKey(KIND, undefined, policyNameOf(pn, config.defaultPolicyName));
  // The default policy's key once at start, so it is created when absent even with no ProviderNode naming
  // it; afterwards its deletion enqueues it through the policies' watch.
  if (config.defaultPolicySpec) controller.enqueue(objectKey(KIND, undefined, config.defaultPolicyName));
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
