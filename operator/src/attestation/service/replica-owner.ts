// Which Pods are replicas. The label chrysalis.dev/pool is Pod metadata anyone who may create or patch Pods
// in the namespace can write, so it only names the pool to look at. A Pod is a replica of pool P when P
// controls it: its one controller reference (ownerReferences entry with controller: true) is
// chrysalis.dev/v1alpha1 InferencePool P, P is the name the label gives, and P exists in the Pod's namespace
// with the uid the reference names — what the InferencePool controller's pod builder writes. A reference to
// a pool of that name deleted and created again (another uid) is not P's.
//
// The attestation service (replica challenges and evidence) and metering (usage reports) both ask this,
// with the pool as they just read it from the apiserver.
import { API_VERSION } from '../../api/index.js';
import { LABEL_POOL } from '../../marks.js';

/** The parts of a Pod the check reads (a V1Pod or a KubeObject both fit). */
export interface ReplicaPodMeta {
  metadata?: {
    namespace?: string;
    name?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }>;
  };
}

/** The parts of the InferencePool the check reads, as fetched from the Pod's namespace. */
export interface PoolMeta {
  metadata?: { name?: string; namespace?: string; uid?: string };
}

/** The pool the Pod claims by its label: which InferencePool to fetch (in the Pod's namespace). */
export function claimedPool(pod: ReplicaPodMeta): string | undefined {
  return pod.metadata?.labels?.[LABEL_POOL] || undefined;
}

/**
 * Why the Pod is not a replica of the pool it claims, or undefined when it is. `pool` is the InferencePool
 * named by claimedPool(pod), fetched from the Pod's namespace (undefined: it does not exist).
 */
export function whyNotAReplica(pod: ReplicaPodMeta, pool: PoolMeta | undefined): string | undefined {
  const podKey = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const name = claimedPool(pod);
  if (!name) return `Pod ${podKey} has no ${LABEL_POOL} label`;
  const ref = controllerRefToClaimedPool(pod);
  if (!ref) {
    return `Pod ${podKey} is labelled ${LABEL_POOL}=${name} but is not controlled by InferencePool ${name} (no controller ownerReference to it)`;
  }
  if (!pool?.metadata?.uid || pool.metadata.name !== name || (pool.metadata.namespace !== undefined && pool.metadata.namespace !== pod.metadata?.namespace)) {
    return `Pod ${podKey} is not controlled by InferencePool ${name}: no such pool in namespace ${pod.metadata?.namespace}`;
  }
  if (ref.uid !== pool.metadata.uid) {
    return `Pod ${podKey} is not controlled by InferencePool ${name}: its owner reference names uid ${ref.uid}, the pool's is ${pool.metadata.uid}`;
  }
  return undefined;
}

/**
 * The Pod's one controller reference when it names the chrysalis.dev InferencePool its pool label names;
 * undefined otherwise (no label, no controller, two controllers, another kind or another name). It reads
 * the Pod alone: whether that pool exists with the referenced uid takes the pool (whyNotAReplica).
 */
export function controllerRefToClaimedPool(pod: ReplicaPodMeta): { uid?: string } | undefined {
  const name = claimedPool(pod);
  if (!name) return undefined;
  const controllers = (pod.metadata?.ownerReferences ?? []).filter((r) => r.controller === true);
  const ref = controllers[0];
  if (controllers.length !== 1 || ref!.apiVersion !== API_VERSION || ref!.kind !== 'InferencePool' || ref!.name !== name) return undefined;
  return ref;
}
