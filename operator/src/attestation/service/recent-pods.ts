// The replica Pods the attestation service read lately, where it has no Pod cache (the chart runs it
// alone, and there it may get a Pod by name but never list or watch Pods: replica-reads.ts). A replica's
// challenge and its evidence come seconds apart, and a write to a host's lists that needs the room asks
// whether the other replicas named there still exist (replica-reads.ts); read from the apiserver each
// time, those were most of what the service asked of it for an attestation.
//
// A Pod read within POD_MEMORY_MS stands for the Pod with that uid in challenges, evidence and pruning:
// the request's uid is fixed by the caller's token (or the list entry), not by this memory, and what
// those read of a Pod with a given uid — its node, its ServiceAccount, its GPUs — is what it was created
// with; its owner and labels can be edited, by whoever may already edit them, and a change is seen within
// POD_MEMORY_MS. A Pod deleted meanwhile still answers as it was: a verdict for it is refused anyway (its
// gate write carries the uid, and the apiserver answers 404), and its list entries stay until a later
// write prunes them. Usage reports do not use it: metering reads the Pod's gate, which must be current.
import type { V1Pod } from '@kubernetes/client-node';
import { slimPod } from '../../kube/cached-shape.js';
import type { KubeObject } from '../../kube/resource.js';

export const POD_MEMORY_MS = 30_000;
/** Pods remembered at most (oldest forgotten first): a Pod is about 1 KiB as kept. */
export const MAX_REMEMBERED_PODS = 20_000;

export class RecentPods {
  private readonly pods = new Map<string, { pod: V1Pod; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The Pod `namespace/name` with `uid`, when it was read within POD_MEMORY_MS. */
  get(namespace: string, name: string, uid: string): V1Pod | undefined {
    const key = `${namespace}/${name}`;
    const seen = this.pods.get(key);
    if (!seen) return undefined;
    if (this.now() - seen.at > POD_MEMORY_MS) {
      this.pods.delete(key);
      return undefined;
    }
    return seen.pod.metadata?.uid === uid ? seen.pod : undefined;
  }

  /** Remembers a copy of a Pod just read from the apiserver, cut to what the service reads. */
  remember(pod: V1Pod): void {
    const kept = slimPod(structuredClone(pod) as KubeObject) as V1Pod;
    const key = `${kept.metadata?.namespace}/${kept.metadata?.name}`;
    this.pods.delete(key);
    this.pods.set(key, { pod: kept, at: this.now() });
    if (this.pods.size > MAX_REMEMBERED_PODS) this.pods.delete(this.pods.keys().next().value!);
  }

  /** Forgets the Pod `namespace/name` (read as gone). */
  forget(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
  }
}
