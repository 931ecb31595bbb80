// Where a replica's pending challenge lives: its host's ProviderNode status.replicaChallenges, written only
// by the attestation service through the status subresource. A Pod annotation would let whoever may patch
// Pods in the namespace choose the nonce (one they hold recorded evidence for) and the issue time the
// policy's evidence-age limit is measured from; status of a cluster-scoped kind is not theirs to write.
//
// pendingReplicaChallenge is what the service reads; withReplicaChallenge / withoutReplicaChallenge compute
// the list it writes (pruned of Pods that are gone and of expired challenges, as status.attestedReplicas is).
import type { ProviderNodeStatusReplicaChallenge } from '../../api/providernode.js';
import { withAttestedReplica, withoutAttestedReplica, type LivePods, type PodIdentity } from './replica-keys.js';

/** The most entries the CRD admits (crds/chrysalis.dev_providernodes.yaml, status.replicaChallenges.maxItems). */
export const MAX_REPLICA_CHALLENGES = 64;

/** What the lookup reads of a ProviderNode (a whole ProviderNode fits). */
export interface ReplicaChallengeSource {
  spec: { nodeName: string };
  status?: { replicaChallenges?: ProviderNodeStatusReplicaChallenge[] };
}

/**
 * The challenge the service issued for exactly this Pod (same namespace, name and uid) on this host while
 * it has not expired at `now`; undefined otherwise (also when the Pod is on another node, has no uid, or
 * has two entries, which is not a list the service wrote).
 */
export function pendingReplicaChallenge(host: ReplicaChallengeSource | undefined, pod: PodIdentity, now: Date): ProviderNodeStatusReplicaChallenge | undefined {
  const { namespace, name, uid } = pod.metadata ?? {};
  if (!host || !namespace || !name || !uid) return undefined;
  if (pod.spec?.nodeName !== host.spec.nodeName) return undefined;
  const matches = (host.status?.replicaChallenges ?? []).filter((e) => e.namespace === namespace && e.pod === name);
  if (matches.length !== 1 || matches[0]!.uid !== uid) return undefined;
  const entry = matches[0]!;
  if (!/^[0-9a-f]{64}$/.test(entry.nonce)) return undefined;
  const expires = Date.parse(entry.expiresAt);
  if (Number.isNaN(expires) || expires <= now.getTime() || Number.isNaN(Date.parse(entry.issuedAt))) return undefined;
  return entry;
}

/** The pruned list with this Pod's challenge replaced by `entry` (a fresh one). */
export function withReplicaChallenge(entries: readonly ProviderNodeStatusReplicaChallenge[], entry: ProviderNodeStatusReplicaChallenge, live: LivePods, now: Date): ProviderNodeStatusReplicaChallenge[] {
  return withAttestedReplica(entries, entry, live, now);
}

/** The pruned list without this Pod's challenge (an answer consumed it). */
export function withoutReplicaChallenge(entries: readonly ProviderNodeStatusReplicaChallenge[], namespace: string, pod: string, live: LivePods, now: Date): ProviderNodeStatusReplicaChallenge[] {
  return withoutAttestedReplica(entries, namespace, pod, live, now);
}
