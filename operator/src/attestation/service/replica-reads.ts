// How the attestation service reads a replica's Pod, its InferencePool, and whether other replicas' Pods
// still exist: from the operator's informer caches when the copy is the very object the request is about,
// from the apiserver otherwise.
//
// Why a copy may answer. The service's decisions are recorded by writes conditioned on what they were
// computed from (the host's ProviderNode by resourceVersion, the Pod's gate by uid), and a Pod or pool
// is identified by its uid, which the request fixes independently of the cache:
//  - the Pod: only the cached copy with the uid the caller's token is bound to (TokenReview says which
//    Pod); a Pod not cached yet, or re-created under the name, is read from the apiserver. Challenges and
//    evidence read of it what a Pod of that uid was created with (node, ServiceAccount, GPUs) and its
//    owner; a usage report reads it from the apiserver, since metering requires its gate condition True
//    and a copy may lag a gate just turned False;
//  - the pool: only the cached copy with the uid the Pod's controller reference names;
//  - another replica's Pod, when the host's lists are pruned of Pods that are gone: an entry that expired
//    needs no read at all, and the others are asked about only when the lists need the room (livePods),
//    "still there" from a cached copy with the entry's uid, else from the apiserver: an entry of a
//    Pod that is gone grants nothing — every use of an entry is for exactly its Pod's uid, and a usage
//    report reads its Pod from the apiserver — so it may stay until it expires. Asked each time, these
//    reads were most of the service's requests where it runs alone: 45 to 147 Pod GETs a second against
//    15 to 57 status writes in the chaos bench at 8,000 replicas, the Pods read again after each 30 s
//    memory ran out. A Pod deleted a moment ago keeps its entry until a write that reads it, or its expiry.
// AttestationPolicies are not read here: evidence is judged against the policy as the apiserver has it.
//
// Pods are cached only in a process that also runs the controllers (their cache of every Pod). The chart
// runs the network-facing service alone, and there it may get a Pod by name but never list or watch Pods,
// so that it cannot enumerate the cluster's Pods (rbac/permissions.ts): there a Pod is read by a GET, and
// challenges, evidence and pruning use one read within the last seconds (recent-pods.ts). Without caches
// (unit tests, the CLI) every read goes to the apiserver.
import type { V1Pod } from '@kubernetes/client-node';
import type { InferencePool } from '../../api/inferencepool.js';
import { InferencePools } from '../../kube/chrysalis-resources.js';
import { KubeClient } from '../../kube/kube-client.js';
import { NO_FENCE } from '../../kube/leader-election.js';
import { Pods, type KubeObject } from '../../kube/resource.js';
import type { RestClient } from '../../kube/rest.js';
import type { Store } from '../../kube/store.js';
import { livePodKey, unexpired, type PodEntry } from './replica-keys.js';
import type { RecentPods } from './recent-pods.js';

export interface ReplicaCaches {
  /**
   * The controllers' cache of Pods, cut to what the service reads (kube/cached-shape.ts slimPod), when the
   * process runs them; absent where the service runs alone: it may get a Pod by name, never list or watch
   * Pods (rbac/permissions.ts), so each of its Pod reads is a GET.
   */
  pods?: Pick<Store<KubeObject>, 'get'>;
  pools: Pick<Store<InferencePool & KubeObject>, 'get'>;
  /** Without `pods`: the Pods this service read lately (recent-pods.ts). */
  recentPods?: RecentPods;
}

/** How many replica Pods a host can run at once: its declared GPUs, as each replica takes at least one. */
export function replicaRoomOf(host: { spec?: { gpus?: { count?: number } } }): number {
  return Math.max(1, host.spec?.gpus?.count ?? 0);
}

export class ReplicaReads {
  /** Reads only (GET, 404 → undefined): no leader fence is involved. */
  private readonly client: KubeClient;

  constructor(rest: RestClient, private readonly caches?: ReplicaCaches) {
    this.client = new KubeClient(rest, NO_FENCE);
  }

  /** The Pod `namespace/name`, from the cache when its copy has `uid` (none given: from the apiserver); undefined when it does not exist. */
  async pod(namespace: string, name: string, uid: string | undefined): Promise<V1Pod | undefined> {
    const cached = uid ? this.caches?.pods?.get(namespace, name) ?? this.caches?.recentPods?.get(namespace, name, uid) : undefined;
    if (cached && cached.metadata?.uid === uid) return cached as V1Pod;
    const read = await this.client.get<V1Pod & KubeObject>(Pods, name, namespace);
    // Every read (usage reports' too) refreshes the memory; only reads given a uid use it.
    if (read) this.caches?.recentPods?.remember(read);
    else this.caches?.recentPods?.forget(namespace, name);
    return read;
  }

  /** The InferencePool `namespace/name`, from the cache when its copy has `uid`; undefined when it does not exist. */
  async pool(namespace: string, name: string, uid: string | undefined): Promise<(InferencePool & KubeObject) | undefined> {
    const cached = uid ? this.caches?.pools.get(namespace, name) : undefined;
    if (cached && cached.metadata?.uid === uid) return cached;
    return this.client.get<InferencePool & KubeObject>(InferencePools, name, namespace);
  }

  /**
   * namespace/name → uid of the Pods the entries name that are to be kept as still there (and of `pod`
   * itself), for pruning a host's lists (replica-keys.ts). An expired entry is left out unread (pruning
   * drops it anyway). The others are kept as they are unless the lists name more Pods than the host has
   * room for (`room`: its GPUs, as each replica takes at least one); then each is asked of a copy with
   * its uid, or of the apiserver.
   */
  async livePods(entries: readonly PodEntry[], pod: V1Pod, now: Date, room: number): Promise<Map<string, string>> {
    const live = new Map<string, string>([[livePodKey(pod.metadata!.namespace!, pod.metadata!.name!), pod.metadata!.uid!]]);
    const current = entries.filter((e) => unexpired(e, now));
    const named = new Set([...live.keys(), ...current.map((e) => livePodKey(e.namespace, e.pod))]);
    const crowded = named.size > room;
    await Promise.all(current.map(async (e) => {
      const key = livePodKey(e.namespace, e.pod);
      if (live.has(key)) return;
      if (!crowded) {
        live.set(key, e.uid);
        return;
      }
      // pod() answers from a copy with the entry's uid when this process has one, else from the apiserver.
      const found = await this.pod(e.namespace, e.pod, e.uid);
      if (found?.metadata?.uid) live.set(key, found.metadata.uid);
    }));
    return live;
  }
}
