// Which API resource an operation is about, and the keys that name objects. Resources are described
// explicitly (group, version, plural, scope) rather than discovered, so a request path is known without
// a discovery round trip and a typo fails at the first request with the path in the message.

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** Lower-case plural as in the URL: 'configmaps', 'providernodes'. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface KubeObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  deletionTimestamp?: string;
  finalizers?: string[];
  managedFields?: Array<{ manager?: string; operation?: string; subresource?: string; time?: string; fieldsV1?: unknown }>;
  [key: string]: unknown;
}

/** Any Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObjectMeta;
  [key: string]: unknown;
}

export function apiVersionOf(resource: ResourceType): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

/** `/api/v1/namespaces/ns/configmaps/name` and friends; omit name for the collection. */
export function resourcePath(resource: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const root = resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`;
  if (resource.namespaced && name !== undefined && !namespace) {
    throw new Error(`${resource.kind} ${name}: a namespaced resource needs a namespace`);
  }
  if (!resource.namespaced && namespace) throw new Error(`${resource.kind} is cluster-scoped; got namespace ${namespace}`);
  let path = root + (namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '') + `/${resource.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) {
    if (name === undefined) throw new Error(`subresource ${subresource} needs an object name`);
    path += `/${subresource}`;
  }
  return path;
}

/** The informer cache key: `namespace/name`, or `name` for cluster-scoped objects (as client-go). */
export function cacheKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function cacheKeyOf(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error('object without metadata.name');
  return cacheKey(obj.metadata?.namespace, name);
}

/**
 * The work-queue key: `Kind/namespace/name` (namespace empty for cluster-scoped objects, so
 * `ProviderNode//gpu-1`). Carrying the kind lets one queue hold keys of several kinds without clashes.
 */
export function objectKey(kind: string, namespace: string | undefined, name: string): string {
  if (kind.includes('/') || (namespace ?? '').includes('/') || name.includes('/')) {
    throw new Error(`key parts cannot contain '/': ${kind} ${namespace} ${name}`);
  }
  return `${kind}/${namespace ?? ''}/${name}`;
}

export function objectKeyOf(kind: string, obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${kind} without metadata.name`);
  return objectKey(kind, obj.metadata?.namespace, name);
}

export interface ParsedKey {
  kind: string;
  /** undefined for cluster-scoped objects. */
  namespace: string | undefined;
  name: string;
}

export function parseObjectKey(key: string): ParsedKey {
  const parts = key.split('/');
  if (parts.length !== 3 || !parts[0] || !parts[2]) throw new Error(`not a Kind/namespace/name key: ${JSON.stringify(key)}`);
  return { kind: parts[0], namespace: parts[1] || undefined, name: parts[2] };
}

/** Built-in resources the operator and its tests use. */
export const ConfigMaps: ResourceType = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
export const Pods: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const Nodes: ResourceType = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
export const Services: ResourceType = { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true };
export const Secrets: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };
export const Leases: ResourceType = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true };
export const Events: ResourceType = { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };
