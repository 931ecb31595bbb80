// KubeClient: the operator's only way to change the cluster. Every write passes the leader fence twice
// (fencedRequest, leader-election.ts): when it is asked for, and at the moment it leaves. And object
// writes are server-side apply with one named field manager, so `kubectl get -o yaml --show-managed-fields` says which fields the operator owns and a field another
// manager set is never silently overwritten unless we apply with force.
import { fencedRequest, type Fence } from './leader-election.js';
import { apiVersionOf, resourcePath, type KubeObject, type ResourceType } from './resource.js';
import { isNotFound, type RestClient } from './rest.js';
import { isSubset, statusEqual } from './status.js';
import { FIELD_MANAGER } from '../marks.js';


const APPLY_PATCH = 'application/apply-patch+yaml';

/** One operation of a JSON patch (RFC 6902); paths are JSON pointers (RFC 6901: '/' in a key is '~1'). */
export type JsonPatchOperation =
  | { op: 'test' | 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** A key as one segment of a JSON pointer. */
export function jsonPointerSegment(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export interface ApplyOptions {
  /**
   * Take ownership of fields another manager set (default true): the operator is the authority over
   * what it applies; a conflict left unresolved would stall the reconcile forever.
   */
  force?: boolean;
  /**
   * Apply only onto this version of the object (metadata.resourceVersion in the applied object is a
   * precondition): 409 Conflict if anyone wrote since. For a plan that read fields other writers own.
   */
  resourceVersion?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export class KubeClient {
  constructor(readonly rest: RestClient, private readonly fence: Fence) {}

  /** The object, or undefined if it does not exist. */
  async get<T extends KubeObject>(resource: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.rest.request<T>('GET', resourcePath(resource, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(resource: ResourceType, options: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.rest.request<{ metadata: { resourceVersion: string; continue?: string }; items: T[] }>('GET', resourcePath(resource, options.namespace), {
        query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector, limit: 500, continue: cont },
      });
      items.push(...page.items.map((i) => ({ apiVersion: apiVersionOf(resource), kind: resource.kind, ...i })));
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Server-side apply of `obj` (which must carry apiVersion, kind, metadata.name and, if namespaced,
   * metadata.namespace). Send only the fields the operator means to own: fields left out that it owned
   * before are removed.
   */
  async apply<T extends KubeObject>(resource: ResourceType, obj: T, options: ApplyOptions = {}): Promise<T> {
    return this.applyTo(resource, obj, undefined, options);
  }

  /** Server-side apply to the status subresource: only `status` of `obj` is written. */
  async applyStatus<T extends KubeObject>(resource: ResourceType, obj: T, options: ApplyOptions = {}): Promise<T> {
    return this.applyTo(resource, obj, 'status', options);
  }

  /**
   * apply() unless `current` already contains every field of `desired` (then no request at all, so an
   * idempotent reconcile makes no write). Returns the object after the apply, or `current`.
   */
  async applyIfChanged<T extends KubeObject>(resource: ResourceType, current: T | undefined, desired: T, options: ApplyOptions = {}): Promise<{ object: T; written: boolean }> {
    const { status: _ignored, ...desiredWithoutStatus } = desired;
    if (current && isSubset(metadataFree(desiredWithoutStatus), metadataFree(current)) && isSubset(desired.metadata?.labels, current.metadata?.labels) && isSubset(desired.metadata?.annotations, current.metadata?.annotations) && isSubset(desired.metadata?.ownerReferences, current.metadata?.ownerReferences)) {
      return { object: current, written: false };
    }
    return { object: await this.apply(resource, desired, options), written: true };
  }

  /**
   * Writes `status` through the status subresource only when it differs from `current.status`
   * (ignoring conditions' lastTransitionTime churn; see status.ts).
   */
  async applyStatusIfChanged<T extends KubeObject>(resource: ResourceType, current: T, status: unknown, options: ApplyOptions = {}): Promise<{ object: T; written: boolean }> {
    if (statusEqual(current.status, status)) return { object: current, written: false };
    const meta = current.metadata ?? {};
    const body = {
      apiVersion: current.apiVersion ?? apiVersionOf(resource), kind: current.kind ?? resource.kind,
      metadata: { name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}) },
      status,
    } as unknown as T;
    return { object: await this.applyStatus(resource, body, options), written: true };
  }

  /** Creates an object (or a subresource such as pods/binding). */
  async create<T extends KubeObject>(resource: ResourceType, obj: KubeObject, options: { namespace?: string; name?: string; subresource?: string } = {}): Promise<T> {
    const namespace = options.namespace ?? obj.metadata?.namespace;
    return fencedRequest<T>(this.rest, this.fence, 'POST', resourcePath(resource, namespace, options.subresource ? options.name ?? obj.metadata?.name : undefined, options.subresource), {
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
    });
  }

  /**
   * Deletes an object; false if it was already gone. `uid` makes it a precondition: the delete cannot
   * hit a newer object of the same name.
   */
  async delete(resource: ResourceType, name: string, namespace?: string, options: { uid?: string; propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}): Promise<boolean> {
    try {
      await fencedRequest(this.rest, this.fence, 'DELETE', resourcePath(resource, namespace, name), {
        body: {
          apiVersion: 'v1', kind: 'DeleteOptions',
          ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
          ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
        },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * JSON merge patch (RFC 7386), for the few fields server-side apply cannot share safely (atomic lists
   * such as Node taints): lists in it replace the whole list. With `metadata.resourceVersion` in the
   * body it is an optimistic update: a concurrent writer makes it fail with 409 Conflict. Unlike
   * apply, it never creates a missing object (404). `fieldManager` names a writer other than the
   * controllers (metering), whose fields the controllers' applies must never take over.
   */
  async patchMerge<T extends KubeObject>(resource: ResourceType, name: string, namespace: string | undefined, body: unknown, subresource?: string, options: { fieldManager?: string } = {}): Promise<T> {
    return fencedRequest<T>(this.rest, this.fence, 'PATCH', resourcePath(resource, namespace, name, subresource), {
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
      body,
      contentType: 'application/merge-patch+json',
    });
  }

  /**
   * JSON patch (RFC 6902). Its `test` operations make a write conditional on exactly the fields that
   * matter, where a resourceVersion precondition would also refuse it for any unrelated change (another
   * writer's status update): the apiserver applies the operations to the current object, and a failed test
   * is answered 422 with nothing written.
   */
  async patchJson<T extends KubeObject>(resource: ResourceType, name: string, namespace: string | undefined, operations: JsonPatchOperation[], subresource?: string): Promise<T> {
    return fencedRequest<T>(this.rest, this.fence, 'PATCH', resourcePath(resource, namespace, name, subresource), {
      query: { fieldManager: FIELD_MANAGER },
      body: operations,
      contentType: 'application/json-patch+json',
    });
  }

  private async applyTo<T extends KubeObject>(resource: ResourceType, obj: T, subresource: string | undefined, options: ApplyOptions): Promise<T> {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`apply ${resource.kind}: metadata.name is required`);
    if (!obj.apiVersion || !obj.kind) throw new Error(`apply ${resource.kind} ${name}: apiVersion and kind are required by server-side apply`);
    const body = options.resourceVersion ? { ...obj, metadata: { ...obj.metadata, resourceVersion: options.resourceVersion } } : obj;
    return fencedRequest<T>(this.rest, this.fence, 'PATCH', resourcePath(resource, obj.metadata?.namespace, name, subresource), {
      query: { fieldManager: FIELD_MANAGER, force: options.force ?? true },
      body,
      contentType: APPLY_PATCH,
    });
  }
}

/** The object without metadata (labels, annotations, owners are compared separately). */
function metadataFree(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, ...rest } = obj;
  return rest;
}
