// The pool's routing objects, applied during the pool's reconcile: its Service (endpoint.ts) from the
// first time one of its replicas carries the routing label, and the Gateway API Inference Extension
// InferencePool (gateway-inference-pool.ts) while that CRD is installed and the configuration enables it.
// Both select replicas by the pool label and the chrysalis.dev/attested label, which the reconciler sets
// and removes (attested-label.ts).
//
// Why the Service waits for a routable replica: until then it would select nothing, and a ClusterIP
// Service is not one write but several (kube-apiserver allocates its IP as an IPAddress object, the
// endpoints and EndpointSlice controllers each write an empty object, then update it when a replica
// qualifies). Written at a scale-up, those writes compete with the replica creates for the apiserver;
// written when a replica first qualifies, they come once, with the replica in them. Once written, the
// Service stays (and is kept as applied) whether or not a replica is routable.
//
//   Service     compared with the informer's cached copy (Services labelled chrysalis.dev/pool): applied
//               only when it differs, and again if someone deletes or edits it (the watch wakes the pool).
//   extension   its CRD is watched (one object, by name), so its arrival or removal wakes every pool; with
//               no CRD nothing is read or written. Its InferencePools are not watched (an informer cannot
//               list a kind that may not exist): the controller remembers what it applied per pool and
//               applies again when that changes, when the CRD reappears, or after `resyncMs`, reading
//               the object first whenever it does not know it, so an object someone else made of that
//               name is reported, never taken over.
//
// A Service or extension InferencePool of the pool's name that the pool does not control is someone
// else's: nothing is written to it, the pool reports no endpoint, and a Warning Event says why.
import type { InferencePool, InferencePoolStatusEndpoint } from '../../api/index.js';
import type { RecordedEvent } from '../../kube/events.js';
import type { KubeClient } from '../../kube/kube-client.js';
import type { Store } from '../../kube/store.js';
import { Services, type KubeObject } from '../../kube/resource.js';
import { isNotFound } from '../../kube/rest.js';
import { buildPoolService, ownedByPool, poolEndpoint, poolServiceName, serviceNameProblem } from './endpoint.js';
import { buildGatewayInferencePool, crdServesV1, GatewayInferencePools, GIE_CRD_NAME, type GatewayInferenceExtensionConfig } from './gateway-inference-pool.js';

/** Re-apply a remembered extension InferencePool at least this often (default 10 min). */
export const DEFAULT_GIE_RESYNC_MS = 600_000;

export interface PoolRoutingDeps {
  client: KubeClient;
  /** Services carrying the pool label (the controller's informer). */
  services: Store<KubeObject>;
  /** The extension's CRD, watched by name (the controller's informer). */
  crds: Store<KubeObject>;
  config: GatewayInferenceExtensionConfig;
  /**
   * Whether a replica the pool controls carries the routing label now (the controller's Pod cache): the
   * pool's Service is first written then.
   */
  hasRoutableReplica: (pool: InferencePool) => boolean;
  now?: () => Date;
  resyncMs?: number;
}

export interface RoutingOutcome {
  /** What the pool's status.endpoint says; undefined while the pool has no Service of its own. */
  endpoint?: InferencePoolStatusEndpoint;
  /** Warnings for the pool (a name taken by someone else's object). */
  events: RecordedEvent[];
  /** Writes that failed; the reconcile retries. */
  failures: unknown[];
}

interface Applied {
  uid: string;
  json: string;
  at: number;
}

export class PoolRouting {
  private readonly now: () => Date;
  /** namespace/name → the extension InferencePool last applied for that pool. */
  private readonly applied = new Map<string, Applied>();
  /**
   * namespace/name → uid of the pool whose Service this process has written: kept from then on, even
   * while the Service cache has not shown it yet and no replica is routable (so status.endpoint does not
   * come and go).
   */
  private readonly serviceWritten = new Map<string, string>();

  constructor(private readonly deps: PoolRoutingDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The extension's InferencePools are written now: enabled, and the CRD serves v1. */
  gatewayInferenceExtensionActive(): boolean {
    return this.deps.config.enabled && crdServesV1(this.deps.crds.get(undefined, GIE_CRD_NAME));
  }

  /** Forget what was applied (the CRD went away or came back: read and apply afresh). */
  forgetApplied(): void {
    this.applied.clear();
  }

  /** The pool is gone: forget what was applied for it. */
  forgetPool(namespace: string, name: string): void {
    this.applied.delete(`${namespace}/${name}`);
    this.serviceWritten.delete(`${namespace}/${name}`);
  }

  async reconcile(pool: InferencePool): Promise<RoutingOutcome> {
    const events: RecordedEvent[] = [];
    const failures: unknown[] = [];
    const namespace = pool.metadata.namespace as string;
    const name = pool.metadata.name as string;

    let serviceInPlace = false;
    const problem = serviceNameProblem(pool);
    if (problem) {
      events.push({ type: 'Warning', reason: 'EndpointUnavailable', action: 'Route', message: problem });
    } else {
      const current = this.deps.services.get(namespace, poolServiceName(pool));
      if (current && !ownedByPool(current, pool)) {
        events.push({ type: 'Warning', reason: 'EndpointConflict', action: 'Route', message: `a Service ${namespace}/${poolServiceName(pool)} exists that this pool does not own; the pool has no endpoint until that Service is removed` });
      } else if (!current && this.serviceWritten.get(`${namespace}/${name}`) !== pool.metadata.uid && !this.deps.hasRoutableReplica(pool)) {
        // No replica to route to yet: no Service, and no endpoint in the status (ROUTING.md).
      } else {
        try {
          await this.deps.client.applyIfChanged(Services, current, buildPoolService(pool));
          this.serviceWritten.set(`${namespace}/${name}`, pool.metadata.uid as string);
          serviceInPlace = true;
        } catch (err) {
          // A Service of the pool's that is already there still serves while the write is retried.
          serviceInPlace = current !== undefined;
          failures.push(err);
        }
      }
    }

    let gatewayInferencePool: string | undefined;
    if (this.gatewayInferenceExtensionActive()) {
      try {
        const written = await this.applyGatewayInferencePool(pool);
        if (written === 'conflict') {
          events.push({ type: 'Warning', reason: 'GatewayInferencePoolConflict', action: 'Route', message: `an InferencePool ${namespace}/${name} of ${GatewayInferencePools.group} exists that this pool does not own; it is left as it is` });
        } else if (written === 'ok') {
          gatewayInferencePool = name;
        }
      } catch (err) {
        failures.push(err);
      }
    } else {
      this.applied.delete(`${namespace}/${name}`);
    }

    return { ...(serviceInPlace ? { endpoint: poolEndpoint(pool, gatewayInferencePool) } : {}), events, failures };
  }

  private async applyGatewayInferencePool(pool: InferencePool): Promise<'ok' | 'conflict' | 'absent'> {
    const namespace = pool.metadata.namespace as string;
    const name = pool.metadata.name as string;
    const key = `${namespace}/${name}`;
    const desired = buildGatewayInferencePool(pool, this.deps.config);
    const json = JSON.stringify(desired);
    const now = this.now().getTime();
    const last = this.applied.get(key);
    if (last && last.uid === pool.metadata.uid && last.json === json && now - last.at < (this.deps.resyncMs ?? DEFAULT_GIE_RESYNC_MS)) return 'ok';
    try {
      const current = await this.deps.client.get<KubeObject>(GatewayInferencePools, name, namespace);
      if (current && !ownedByPool(current, pool)) {
        this.applied.delete(key);
        return 'conflict';
      }
      await this.deps.client.applyIfChanged(GatewayInferencePools, current, desired);
    } catch (err) {
      // The CRD went away since the watch last said it was there: nothing to write, and not an error.
      if (isNotFound(err)) {
        this.applied.delete(key);
        return 'absent';
      }
      throw err;
    }
    this.applied.set(key, { uid: pool.metadata.uid as string, json, at: now });
    return 'ok';
  }
}
