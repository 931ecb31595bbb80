// What the operator keeps of each object its informers cache: the transforms the Manager gives the
// informers of Pods, Nodes and ProviderNodes. Every Pod, Node and ProviderNode in the cluster is cached
// (placement must see every GPU taken), so what is kept of each is most of the operator's heap.
import { FIELD_MANAGER } from '../marks.js';
import { ProviderNodes } from './chrysalis-resources.js';
import { Nodes, Pods, type KubeObject, type ResourceType } from './resource.js';
import type { Transform } from './store.js';
import { MODEL_CHECK_CONTAINER } from '../model/model-volume.js';

/** The transform the operator's informer of `resource` caches through (none: kept whole). */
export function cachedShapeOf<T extends KubeObject = KubeObject>(resource: ResourceType): Transform<T> | undefined {
  if (sameResource(resource, Pods)) return slimPod;
  if (sameResource(resource, Nodes)) return trimNodeManagedFields;
  if (sameResource(resource, ProviderNodes)) return trimManagedFields;
  return undefined;
}

function sameResource(a: ResourceType, b: ResourceType): boolean {
  return a.group === b.group && a.plural === b.plural;
}

/**
 * Trims metadata.managedFields, in place, to the entries of `keepManager` (none when not given).
 * managedFields — nested field sets of every writer: the creator, the kubelet's status, the
 * controller-manager — are ~40% of a Pod's JSON and two thirds of its heap. The operator reads only its
 * own entries, and only on Nodes (the ProviderNode controller asks whether it set spec.unschedulable);
 * its writes never send managedFields back (an absent list leaves the apiserver's as it is).
 */
export function trimManagedFields<T extends KubeObject>(obj: T, keepManager?: string): T {
  const fields = obj.metadata?.managedFields;
  if (!fields) return obj;
  const kept = keepManager ? fields.filter((f) => f.manager === keepManager) : [];
  if (kept.length) (obj.metadata as NonNullable<KubeObject['metadata']>).managedFields = kept;
  else delete obj.metadata?.managedFields;
  return obj;
}

/** A Node keeps the operator's own managedFields entries and no one else's. */
export function trimNodeManagedFields<T extends KubeObject>(node: T): T {
  return trimManagedFields(node, FIELD_MANAGER);
}

/** What the cache keeps of a terminated container state (and what the model check reads). */
export interface TerminatedLike {
  exitCode?: number;
  message?: string;
}

/** An init container's status as cached: its name and the exit code and message of its (last) termination. */
export interface InitStatusLike {
  name: string;
  state?: { terminated?: TerminatedLike };
  lastState?: { terminated?: TerminatedLike };
}

/** A replica's model-check status: only its exit code and report (controllers/inferencepool/model-verified.ts). */
function slimInitStatus(s: InitStatusLike): InitStatusLike {
  const term = (t: TerminatedLike | undefined) => (t ? { terminated: { ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}), ...(t.message !== undefined ? { message: t.message } : {}) } } : undefined);
  const state = term(s.state?.terminated);
  const lastState = term(s.lastState?.terminated);
  return { name: s.name, ...(state ? { state } : {}), ...(lastState ? { lastState } : {}) };
}

interface ContainerLike {
  name: string;
  restartPolicy?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/**
 * Cuts a Pod down, in place, to what the operator reads from cached Pods: metadata without
 * managedFields (names, uid, resourceVersion, labels, annotations, owners, deletion), spec.nodeName and
 * schedulerName, each container's name and resources (GPU requests), an init container's restartPolicy
 * (a sidecar's GPUs count beside the app's: placement/pod-gpus.ts), status.phase and conditions
 * (the readiness gate, Ready), and the model-check init container's exit code and report (the pool's
 * ModelVerified condition). The rest of a Pod — environment, volumes, security contexts, container
 * statuses — is most of its heap, and other workloads' Pods are often far larger than a replica. The
 * readers: the FleetView, the InferencePool reconciler (observePod, the gate flip, which rewrites
 * status.conditions whole and so keeps them whole here) and the ProviderNode controller (replicas on a
 * node, to evict). The attestation service reads Pods from the API, not from this cache.
 */
export function slimPod<T extends KubeObject>(obj: T): T {
  const pod: KubeObject = trimManagedFields(obj);
  const spec = pod.spec as { nodeName?: string; schedulerName?: string; containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined;
  if (spec) {
    const slimContainers = (list: ContainerLike[] | undefined) =>
      list?.map((c) => ({ name: c.name, ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}), ...(c.resources ? { resources: c.resources } : {}) }));
    const containers = slimContainers(spec.containers);
    const initContainers = slimContainers(spec.initContainers);
    pod.spec = {
      ...(spec.nodeName !== undefined ? { nodeName: spec.nodeName } : {}),
      ...(spec.schedulerName !== undefined ? { schedulerName: spec.schedulerName } : {}),
      ...(containers ? { containers } : {}),
      ...(initContainers ? { initContainers } : {}),
    };
  }
  const status = pod.status as { phase?: string; conditions?: unknown[]; initContainerStatuses?: InitStatusLike[] } | undefined;
  if (status) {
    const modelCheck = status.initContainerStatuses?.filter((s) => s.name === MODEL_CHECK_CONTAINER).map(slimInitStatus);
    pod.status = {
      ...(status.phase !== undefined ? { phase: status.phase } : {}),
      ...(status.conditions !== undefined ? { conditions: status.conditions } : {}),
      ...(modelCheck?.length ? { initContainerStatuses: modelCheck } : {}),
    };
  }
  return obj;
}
