// Where a replica's attested usage-signing key lives: its host's ProviderNode
// status.attestedReplicas, written only by the attestation service through the status subresource.
// Pod metadata (annotations, labels) is writable by anyone who may patch Pods in the namespace, so it
// never carries a key or an expiry that anything trusts.
//
// attestedReplicaKey is what readers ask (metering, the InferencePool controller's expiry gate);
// withAttestedReplica / withoutAttestedReplica are how the service computes the list it writes.
import type { ProviderNodeStatusAttestedReplica } from '../../api/providernode.js';

/** The most entries the CRD admits (crds/chrysalis.dev_providernodes.yaml, status.attestedReplicas.maxItems). */
export const MAX_ATTESTED_REPLICAS = 64;

/** The parts of a Pod the lookup needs (a V1Pod or the informer's KubeObject both fit). */
export interface PodIdentity {
  metadata?: { namespace?: string; name?: string; uid?: string };
  spec?: { nodeName?: string };
}

export interface AttestedReplicaKey {
  /** Ed25519 public key, 64 lowercase hex characters. */
  publicKey: string;
  expiresAt: Date;
}

/** What the lookup reads of a ProviderNode (a whole ProviderNode fits). */
export interface AttestedReplicaSource {
  spec: { nodeName: string };
  status?: { attestedReplicas?: ProviderNodeStatusAttestedReplica[] };
}

/**
 * The entry the attestation service recorded for exactly this Pod (same namespace, name and uid) on
 * this host, expired or not; undefined when there is none, the Pod names another node or has no uid,
 * or the Pod has two entries (the apiserver keeps (namespace, pod) unique, so the list is not what the
 * service wrote).
 */
export function attestedReplicaEntry(host: AttestedReplicaSource | undefined, pod: PodIdentity): ProviderNodeStatusAttestedReplica | undefined {
  const namespace = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  const uid = pod.metadata?.uid;
  if (!host || !namespace || !name || !uid) return undefined;
  // The list speaks only for Pods on the host it describes.
  if (pod.spec?.nodeName !== undefined && pod.spec.nodeName !== host.spec.nodeName) return undefined;
  const matches = (host.status?.attestedReplicas ?? []).filter((e) => e.namespace === namespace && e.pod === name);
  if (matches.length !== 1 || matches[0]!.uid !== uid) return undefined;
  return matches[0];
}

/**
 * The key the attestation service bound for exactly this Pod on this host, while it has not expired at
 * `now`; undefined otherwise. An entry whose expiry does not parse or whose key is malformed: undefined
 * (fail closed). What metering checks a usage report's signature against.
 */
export function attestedReplicaKey(providerNode: AttestedReplicaSource | undefined, pod: PodIdentity, now: Date): AttestedReplicaKey | undefined {
  const entry = attestedReplicaEntry(providerNode, pod);
  if (!entry || !/^[0-9a-f]{64}$/.test(entry.publicKey)) return undefined;
  const expires = Date.parse(entry.expiresAt);
  if (Number.isNaN(expires) || expires <= now.getTime()) return undefined;
  return { publicKey: entry.publicKey, expiresAt: new Date(expires) };
}

/**
 * What an entry of a per-Pod list on the host's status has (status.attestedReplicas, and
 * status.replicaChallenges in replica-challenges.ts, are pruned and replaced alike).
 */
export interface PodEntry {
  namespace: string;
  pod: string;
  uid: string;
  expiresAt: string;
}

/** Pods still present on the host, by namespace/name → uid: what pruning keeps. */
export type LivePods = ReadonlyMap<string, string>;

export const livePodKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * The list without entries of Pods that are gone (absent from `live`, or present with another uid) or
 * whose attestation expired at `now`.
 */
export function pruneAttestedReplicas<T extends PodEntry = ProviderNodeStatusAttestedReplica>(entries: readonly T[], live: LivePods, now: Date): T[] {
  return entries.filter((e) => live.get(livePodKey(e.namespace, e.pod)) === e.uid && unexpired(e, now));
}

/** Whether the entry's expiry is a time still ahead of `now` (an unreadable one never is). */
export function unexpired(e: Pick<PodEntry, 'expiresAt'>, now: Date): boolean {
  const expires = Date.parse(e.expiresAt);
  return !Number.isNaN(expires) && expires > now.getTime();
}

/** The pruned list with this Pod's entry replaced by `entry` (a passing verdict). */
export function withAttestedReplica<T extends PodEntry = ProviderNodeStatusAttestedReplica>(entries: readonly T[], entry: T, live: LivePods, now: Date): T[] {
  const others = pruneAttestedReplicas(entries, live, now).filter((e) => !(e.namespace === entry.namespace && e.pod === entry.pod));
  return [...others, entry].sort(byPod);
}

/** The pruned list without any entry for this Pod (a failed verdict revokes the key it had). */
export function withoutAttestedReplica<T extends PodEntry = ProviderNodeStatusAttestedReplica>(entries: readonly T[], namespace: string, pod: string, live: LivePods, now: Date): T[] {
  return pruneAttestedReplicas(entries, live, now).filter((e) => !(e.namespace === namespace && e.pod === pod)).sort(byPod);
}

function byPod(a: PodEntry, b: PodEntry): number {
  const ka = livePodKey(a.namespace, a.pod);
  const kb = livePodKey(b.namespace, b.pod);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
