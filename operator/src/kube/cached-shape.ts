// What the operator keeps of each object its informers cache: the transforms the Manager gives the
// informers of Pods, Nodes and ProviderNodes. Every Pod, Node and ProviderNode in the cluster is cached
// (placement must see every GPU taken), so what is kept of each is most of the operator's heap.
//
// Who reads the cached objects, and so what each shape must keep:
//  - Pods: the FleetView (controllers/inferencepool/fleet-view.ts: spec.nodeName, phase, deletion, GPUs by
//    placement/pod-gpus.ts, the pool label), the InferencePool reconciler (observePod: name, uid, labels,
//    owner references, deletion, GPUs, phase, conditions, the model check's status; the gate flip sends
//    status.conditions back whole), the ProviderNode controller (replicasAmong: the replicas on a node,
//    by name, uid, pool label, controller reference, phase, deletion, GPUs), the cache indexes
//    (kube/indexes.ts: spec.nodeName, the pool label), routing (the attested label) and the attestation
//    service and metering (attestation/service/replica-reads.ts: name, uid, labels, owner references,
//    spec.nodeName, spec.serviceAccountName, the containers' GPU limits).
//  - Nodes: the FleetView (name, status.allocatable GPUs, spec.unschedulable) and the ProviderNode
//    controller (controllers/providernode/reconciler.ts: the Ready condition's status, allocatable GPUs,
//    spec.unschedulable and who set it (the operator's own managedFields entry), spec.taints, which its
//    Node apply sends back whole, the chrysalis.dev labels it compares, and uid and resourceVersion, which
//    condition that apply).
//  - ProviderNodes: both controllers, metering and the attestation policy status read most of spec and
//    status; only managedFields is dropped.
// Labels: the operator reads only its own (chrysalis.dev/…) on Pods and Nodes, and writes Node labels
// by server-side apply under its own field manager (it never sends back labels it did not set), so other
// labels — many on real GPU nodes (node feature discovery) — are not kept.
// Strings many objects repeat (namespaces, label values, condition types and messages, owner references,
// timestamps, a fleet's ProviderNode spec) are kept once (shared-string.ts).
import { FIELD_MANAGER, OWN_LABEL_PREFIX } from '../marks.js';
import { ProviderNodes } from './chrysalis-resources.js';
import { Nodes, Pods, type KubeObject, type ResourceType } from './resource.js';
import type { Transform } from './store.js';
import { MODEL_CHECK_CONTAINER } from '../model/model-volume.js';
import { shared, shareStrings } from './shared-string.js';

/** The transform the operator's informer of `resource` caches through (none: kept whole). */
export function cachedShapeOf<T extends KubeObject = KubeObject>(resource: ResourceType): Transform<T> | undefined {
  if (sameResource(resource, Pods)) return slimPod;
  if (sameResource(resource, Nodes)) return slimNode;
  if (sameResource(resource, ProviderNodes)) return slimProviderNode;
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

/** The operator's own labels of `labels` (shared strings), or undefined when it has none. */
function ownLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels) return undefined;
  let out: Record<string, string> | undefined;
  for (const k in labels) {
    if (!k.startsWith(OWN_LABEL_PREFIX)) continue;
    (out ??= {})[k] = shared(labels[k] as string);
  }
  return out;
}

type Meta = NonNullable<KubeObject['metadata']>;

/**
 * A Node as cached: name, uid, resourceVersion, deletionTimestamp, the operator's labels and its own
 * managedFields entries; spec.unschedulable and spec.taints (whole: the ProviderNode controller's apply
 * sends the list back); status.allocatable (whole: the GPU resource's name is configuration) and each
 * condition's type and status (Ready's is read). Not kept: annotations, other labels, capacity,
 * addresses, nodeInfo, images, daemonEndpoints, volumes, podCIDRs, providerID, the conditions'
 * heartbeat times, reasons and messages.
 */
export function slimNode<T extends KubeObject>(obj: T): T {
  const node = obj as KubeObject;
  const meta: Meta = node.metadata ?? {};
  const ours = meta.managedFields?.filter((f) => f.manager === FIELD_MANAGER).map(shareStrings);
  const labels = ownLabels(meta.labels);
  node.metadata = {
    name: meta.name !== undefined ? shared(meta.name) : undefined,
    uid: meta.uid,
    resourceVersion: meta.resourceVersion,
    ...(labels ? { labels } : {}),
    ...(meta.deletionTimestamp !== undefined ? { deletionTimestamp: meta.deletionTimestamp } : {}),
    ...(ours?.length ? { managedFields: ours } : {}),
  };
  if (node.metadata.name === undefined) delete node.metadata.name;
  const spec = node.spec as { unschedulable?: boolean; taints?: unknown[] } | undefined;
  if (spec) {
    node.spec = {
      ...(spec.unschedulable !== undefined ? { unschedulable: spec.unschedulable } : {}),
      ...(spec.taints !== undefined ? { taints: shareStrings(spec.taints) } : {}),
    };
  }
  const status = node.status as { allocatable?: Record<string, string>; conditions?: Array<{ type: string; status: string }> } | undefined;
  if (status) {
    node.status = {
      ...(status.allocatable !== undefined ? { allocatable: shareStrings(status.allocatable) } : {}),
      ...(status.conditions !== undefined ? { conditions: status.conditions.map((c) => ({ type: shared(c.type), status: shared(c.status) })) } : {}),
    };
  }
  return obj;
}

/** A ProviderNode as cached: whole but for managedFields, its spec and conditions' strings shared. */
export function slimProviderNode<T extends KubeObject>(obj: T): T {
  trimManagedFields(obj);
  const pn = obj as KubeObject;
  if (pn.metadata?.name !== undefined) pn.metadata.name = shared(pn.metadata.name);
  if (pn.spec !== undefined) shareStrings(pn.spec);
  const conditions = (pn.status as { conditions?: unknown[] } | undefined)?.conditions;
  if (conditions) shareStrings(conditions);
  return obj;
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
  const term = (t: TerminatedLike | undefined) => (t ? { terminated: { ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}), ...(t.message !== undefined ? { message: shared(t.message) } : {}) } } : undefined);
  const state = term(s.state?.terminated);
  const lastState = term(s.lastState?.terminated);
  return { name: shared(s.name), ...(state ? { state } : {}), ...(lastState ? { lastState } : {}) };
}

interface ContainerLike {
  name: string;
  restartPolicy?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** Whether a container asks for any resource (else it adds nothing to any count placement/pod-gpus.ts makes). */
function requestsResources(c: ContainerLike): boolean {
  const r = c.resources;
  return r !== undefined && ((r.requests !== undefined && Object.keys(r.requests).length > 0) || (r.limits !== undefined && Object.keys(r.limits).length > 0));
}

/**
 * Cuts a Pod down to what the operator reads from cached Pods (the header says who reads what):
 * metadata's name, namespace, uid, resourceVersion, the operator's labels, owner references and
 * deletionTimestamp; spec.nodeName and spec.serviceAccountName; the containers and init containers that request resources, in their
 * order, with their resources (and an init container's restartPolicy: a sidecar's GPUs count beside the
 * app's), since one that requests none adds nothing to the GPU count; status.phase, status.conditions
 * whole (the gate flip rewrites the list whole) and the model-check init container's exit code and
 * report (the pool's ModelVerified condition). Not kept: managedFields, annotations (the attestation CA
 * each replica carries among them), other labels, creationTimestamp, generation, the rest of the spec
 * (environment, volumes, security contexts, schedulerName) and of the status (container statuses, IPs).
 * Other workloads' Pods are often far larger than a replica. The attestation service reads a replica's
 * Pod from this cache when the copy has the uid the caller's token is bound to (attestation/service/replica-reads.ts).
 */
export function slimPod<T extends KubeObject>(obj: T): T {
  const pod = obj as KubeObject;
  const meta: Meta = pod.metadata ?? {};
  const labels = ownLabels(meta.labels);
  pod.metadata = {
    name: meta.name,
    namespace: meta.namespace !== undefined ? shared(meta.namespace) : undefined,
    uid: meta.uid,
    resourceVersion: meta.resourceVersion,
    ...(labels ? { labels } : {}),
    ...(meta.ownerReferences !== undefined ? { ownerReferences: shareStrings(meta.ownerReferences) } : {}),
    ...(meta.deletionTimestamp !== undefined ? { deletionTimestamp: meta.deletionTimestamp } : {}),
  };
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion'] as const) if (pod.metadata[k] === undefined) delete pod.metadata[k];
  const spec = pod.spec as { nodeName?: string; serviceAccountName?: string; containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined;
  if (spec) {
    const slimContainers = (list: ContainerLike[] | undefined) => {
      const kept = list?.filter(requestsResources).map((c) => ({ ...(c.restartPolicy ? { restartPolicy: shared(c.restartPolicy) } : {}), resources: shareStrings(c.resources) }));
      return kept?.length ? kept : undefined;
    };
    const containers = slimContainers(spec.containers);
    const initContainers = slimContainers(spec.initContainers);
    pod.spec = {
      ...(spec.nodeName !== undefined ? { nodeName: shared(spec.nodeName) } : {}),
      ...(spec.serviceAccountName !== undefined ? { serviceAccountName: shared(spec.serviceAccountName) } : {}),
      ...(containers ? { containers } : {}),
      ...(initContainers ? { initContainers } : {}),
    };
  }
  const status = pod.status as { phase?: string; conditions?: unknown[]; initContainerStatuses?: InitStatusLike[] } | undefined;
  if (status) {
    const modelCheck = status.initContainerStatuses?.filter((s) => s.name === MODEL_CHECK_CONTAINER).map(slimInitStatus);
    pod.status = {
      ...(status.phase !== undefined ? { phase: shared(status.phase) } : {}),
      ...(status.conditions !== undefined ? { conditions: shareStrings(status.conditions) } : {}),
      ...(modelCheck?.length ? { initContainerStatuses: modelCheck } : {}),
    };
  }
  return obj;
}
