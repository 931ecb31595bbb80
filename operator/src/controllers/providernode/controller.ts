// Wiring of the ProviderNode controller into a Manager (main.ts calls it once with the shared informers):
// the reconciler, the watches that turn Node, Pod and policy changes into ProviderNode keys through the
// cache's indexes, and beside it the AttestationPolicy status controller.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../api/attestationpolicy.js';
import type { ProviderNode } from '../../api/providernode.js';
import type { OperatorConfig } from '../../config.js';
import { BY_NODE_NAME, BY_POLICY, nodeNameOf, policyNameIndexer } from '../../kube/indexes.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import { OwnWrites } from '../../kube/own-writes.js';
import { objectKey, type KubeObject } from '../../kube/resource.js';
import { attestationPolicyController } from '../attestationpolicy/controller.js';
import { ChallengeSlots } from './challenge-slots.js';
import { KIND, ProviderNodeReconciler } from './reconciler.js';

/**
 * Wires the controller into a manager: informers, watches (keys only), and the reconciler; and, beside
 * it, the status of the AttestationPolicies the nodes are verified against (AllowsAnyImage, node count).
 */
/** What the attestation service last decided about a node's evidence (changes with each verdict). */
function verdictOf(pn: ProviderNode): string {
  const a = pn.status?.attestation;
  return `${a?.verifiedAt ?? ''}|${a?.lastFailure?.code ?? ''}|${a?.lastFailure?.at ?? ''}`;
}

/**
 * The longest a challenge without a verdict holds its slot: a live attester answers within seconds, and a
 * dead one must not keep its slot for the challenge's whole TTL.
 */
export const CHALLENGE_SLOT_HOLD_MS = 30_000;

/** Concurrent ProviderNode reconciles. */
export const PROVIDER_NODE_WORKERS = 32;

export function providerNodeController(manager: Manager, config: OperatorConfig, informers: {
  providerNodes: Informer<ProviderNode & KubeObject>;
  nodes: Informer<V1Node & KubeObject>;
  pods: Informer<V1Pod & KubeObject>;
  policies: Informer<AttestationPolicy & KubeObject>;
}) {
  // Challenges outstanding are bounded (challenge-slots.ts); each kind (first admissions, re-attestations)
  // may hold at most three quarters of the slots, so neither starves the other. A freed slot is handed to
  // a waiting node, which is then enqueued ahead of the backlog (addUrgent): it holds its slot from the hand-out,
  // and at the back of a cold start's queue the slot would sit idle behind thousands of keys. (wake runs
  // only at a release or a hold's expiry, after `controller` below exists.)
  const challengeSlots = new ChallengeSlots({
    limit: config.maxOutstandingChallenges,
    reservePerKind: Math.floor(config.maxOutstandingChallenges / 4),
    holdMs: CHALLENGE_SLOT_HOLD_MS,
    wake: (nodeName) => controller.enqueueUrgent(objectKey(KIND, undefined, nodeName)),
    onOverdue: () => manager.metrics.challengesOverdue.inc(),
    onChange: (outstanding, queued) => {
      manager.metrics.challengesOutstanding.set(outstanding);
      manager.metrics.challengesWaiting.set(queued);
    },
  });
  const ownWrites = new OwnWrites(informers.providerNodes);
  const reconciler = new ProviderNodeReconciler({ client: manager.client, events: manager.events, config, ...informers, challengeSlots, ownWrites });
  // Reconciles wait on the apiserver (a status apply, a Node apply or taint patch, events), not on this
  // process's CPU, and one key never runs on two workers: at a fleet's cold start every node needs a
  // challenge and then its verdict turned into conditions, and 4 workers left verdicts queued behind
  // challenges for a minute at 2,000 nodes (npm run bench -- admission).
  const controller = manager.controller({ name: 'providernode', reconciler, workers: PROVIDER_NODE_WORKERS });
  const keyOf = (pn: ProviderNode & KubeObject) => objectKey(KIND, undefined, pn.metadata.name!);
  // A node's slot is free once its challenge is answered (a new verdict), withdrawn, or the node is gone.
  informers.providerNodes
    .onUpdate((old, pn) => {
      const withdrawn = old.status?.attestation?.challenge !== undefined && pn.status?.attestation?.challenge === undefined;
      if (withdrawn || verdictOf(old) !== verdictOf(pn)) challengeSlots.release(pn.metadata.name!);
    })
    .onDelete((pn) => challengeSlots.release(pn.metadata.name!));
  informers.providerNodes.addIndexer(BY_NODE_NAME, nodeNameOf).addIndexer(BY_POLICY, policyNameIndexer(config.defaultPolicyName));
  const byNode = (nodeName: string | undefined) => nodeName ? informers.providerNodes.byIndex(BY_NODE_NAME, nodeName).map(keyOf) : [];
  controller
    // A new verdict from the attestation service jumps the queue: turning it into conditions and Node
    // marks lets the node take work now, while a cold start's backlog of first challenges is worked off.
    .watch(informers.providerNodes, undefined, { urgent: (old, pn) => verdictOf(old) !== verdictOf(pn) })
    .watch(informers.nodes, (n) => byNode(n.metadata?.name))
    .watch(informers.pods, (p) => byNode(p.spec?.nodeName))
    // Registered for its cache sync only: a policy's users are enqueued by the handlers below.
    .watch(informers.policies, () => []);
  // A policy that appears, disappears or changes its spec (generation) concerns every node naming it;
  // a status write (AllowsAnyImage, node count) concerns none of them, and must not re-queue the fleet.
  const usersOf = (pol: AttestationPolicy) => {
    for (const pn of informers.providerNodes.byIndex(BY_POLICY, pol.metadata.name!)) controller.enqueue(keyOf(pn));
  };
  informers.policies
    .onAdd(usersOf)
    .onUpdate((old, pol) => { if (old.metadata.generation !== pol.metadata.generation || old.metadata.uid !== pol.metadata.uid) usersOf(pol); })
    .onDelete(usersOf);
  const policyStatus = attestationPolicyController(manager, config, { policies: informers.policies, providerNodes: informers.providerNodes });
  return { controller, reconciler, policyStatus, challengeSlots };
}

