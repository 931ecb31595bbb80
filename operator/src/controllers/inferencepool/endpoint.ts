// A pool's stable endpoint: one ClusterIP Service named after the pool, in its namespace, owned by it,
// selecting the pool's replicas that carry the routing label (attested-label.ts) on their RA-TLS port.
// Pure: the reconciler applies what these build (routing.ts).
//
// Why the Service selects on the label and not only on readiness: the EndpointSlice controller already
// leaves out replicas that are not Ready (the readiness gate), but readiness reaches the proxies later
// than a label change does, and a replica whose attestation lapses loses the label first. Both must hold
// for a replica to receive traffic.
import type { InferencePool, InferencePoolStatusEndpoint } from '../../api/index.js';
import { API_VERSION } from '../../api/index.js';
import type { KubeObject } from '../../kube/resource.js';
import { LABEL_PART_OF, LABEL_POOL, LABEL_REPLICA_ATTESTED, LABEL_REPLICA_ATTESTED_VALUE, PART_OF_CHRYSALIS } from '../../marks.js';

/**
 * The container port, in the replica's attester sidecar, where the RA-TLS terminator listens (the key
 * bound into the replica's evidence; clients verify it before sending a byte). The Service targets it
 * by name; a Gateway API InferencePool needs its number.
 */
export const REPLICA_HTTPS_PORT_NAME = 'https';
export const REPLICA_HTTPS_PORT = 8443;
/** The port clients connect to on the Service. */
export const SERVICE_HTTPS_PORT = 443;

/** Service names are DNS-1035 labels: a lowercase letter first, at most 63 characters. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The Service's name: the pool's own (`kubectl get svc <pool>`). */
export function poolServiceName(pool: InferencePool): string {
  return pool.metadata.name as string;
}

/**
 * Why the pool cannot have a Service, or undefined when it can. A pool name may be any DNS subdomain
 * (digits first, dots); a Service name may not.
 */
export function serviceNameProblem(pool: InferencePool): string | undefined {
  const name = poolServiceName(pool);
  if (DNS_1035_LABEL.test(name)) return undefined;
  return `the pool name "${name}" cannot name its Service: a Service name starts with a lowercase letter and holds only lowercase letters, digits and '-' (at most 63); create the pool under such a name to get an endpoint`;
}

/** The labels a replica must carry to be routed to: this pool's, and attested. */
export function routedReplicaSelector(pool: InferencePool): Record<string, string> {
  return { [LABEL_POOL]: pool.metadata.name as string, [LABEL_REPLICA_ATTESTED]: LABEL_REPLICA_ATTESTED_VALUE };
}

/** The controller ownerReference every object the pool owns carries (the garbage collector removes them with it). */
export function poolOwnerReference(pool: InferencePool): NonNullable<KubeObject['metadata']>['ownerReferences'] {
  return [{ apiVersion: API_VERSION, kind: 'InferencePool', name: pool.metadata.name as string, uid: pool.metadata.uid as string, controller: true, blockOwnerDeletion: true }];
}

/** The Service to apply (server-side apply: only the fields the controller owns). */
export function buildPoolService(pool: InferencePool): KubeObject {
  const name = pool.metadata.name;
  const namespace = pool.metadata.namespace;
  if (!name || !namespace || !pool.metadata.uid) throw new Error('buildPoolService: the pool needs metadata.name, namespace and uid (read it from the API)');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: poolServiceName(pool),
      namespace,
      labels: { [LABEL_POOL]: name, [LABEL_PART_OF]: PART_OF_CHRYSALIS },
      ownerReferences: poolOwnerReference(pool),
    },
    spec: {
      type: 'ClusterIP',
      // publishNotReadyAddresses stays unset (false): not-ready replicas stay out as well.
      selector: routedReplicaSelector(pool),
      ports: [{ name: REPLICA_HTTPS_PORT_NAME, protocol: 'TCP', port: SERVICE_HTTPS_PORT, targetPort: REPLICA_HTTPS_PORT_NAME, appProtocol: 'https' }],
    },
  };
}

/** What the pool's status says about its endpoint once its Service is in place. */
export function poolEndpoint(pool: InferencePool, gatewayInferencePool?: string): InferencePoolStatusEndpoint {
  const service = poolServiceName(pool);
  return {
    service,
    url: `https://${service}.${pool.metadata.namespace}.svc`,
    ...(gatewayInferencePool !== undefined ? { gatewayInferencePool } : {}),
  };
}

/** The Service is this pool's: controlled by exactly this pool (its uid), so applying to it is ours to do. */
export function ownedByPool(obj: KubeObject | undefined, pool: InferencePool): boolean {
  return obj?.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === pool.metadata.uid) ?? false;
}
