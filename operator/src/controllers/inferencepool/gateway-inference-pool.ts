// The Gateway API Inference Extension's InferencePool (inference.networking.k8s.io/v1) the operator keeps
// beside each Chrysalis pool when that CRD is installed, so any conformant gateway (an HTTPRoute whose
// backendRef names it) routes only to the pool's attested replicas. Pure: what to write, and whether the
// installed CRD serves v1; routing.ts decides when.
//
// The object: the pool's name and namespace, owned by the pool; spec.selector.matchLabels is the same
// selector as the pool's Service (the pool label and chrysalis.dev/attested=true), spec.targetPorts the
// replica's RA-TLS port, spec.endpointPickerRef the endpoint picker (EPP) from the operator's
// configuration. The v1 API requires an endpoint picker; the default is the name the extension's own
// inferencepool chart gives it (`<pool>-epp`, port 9002) with failureMode FailClose, so a gateway whose
// picker is missing refuses requests instead of routing around it. The picker chooses only among the
// Pods the selector admits.
import type { InferencePool } from '../../api/index.js';
import type { KubeObject, ResourceType } from '../../kube/resource.js';
import { LABEL_PART_OF, LABEL_POOL, PART_OF_CHRYSALIS } from '../../marks.js';
import { poolOwnerReference, REPLICA_HTTPS_PORT, routedReplicaSelector } from './endpoint.js';

export const GIE_GROUP = 'inference.networking.k8s.io';
export const GIE_VERSION = 'v1';
/** The CRD whose presence turns the writes on. */
export const GIE_CRD_NAME = `inferencepools.${GIE_GROUP}`;
export const GatewayInferencePools: ResourceType = { group: GIE_GROUP, version: GIE_VERSION, plural: 'inferencepools', kind: 'InferencePool', namespaced: true };
export const CustomResourceDefinitions: ResourceType = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };

export type EndpointPickerFailureMode = 'FailOpen' | 'FailClose';

/** The operator's `gatewayInferenceExtension` configuration (config.ts parses it). */
export interface GatewayInferenceExtensionConfig {
  /** Write the extension's InferencePools when its CRD is installed (default true). */
  enabled: boolean;
  endpointPicker: {
    /** The EPP Service of pool P is `<P><serviceSuffix>` in P's namespace (default `-epp`). */
    serviceSuffix: string;
    /** Its port (default 9002, the extension's). */
    port: number;
    /** What the gateway does when the EPP does not answer (default FailClose). */
    failureMode: EndpointPickerFailureMode;
  };
}

export const DEFAULT_GATEWAY_INFERENCE_EXTENSION: GatewayInferenceExtensionConfig = {
  enabled: true,
  endpointPicker: { serviceSuffix: '-epp', port: 9002, failureMode: 'FailClose' },
};

/** The extension's InferencePool for `pool` (server-side apply: only the fields the controller owns). */
export function buildGatewayInferencePool(pool: InferencePool, config: GatewayInferenceExtensionConfig): KubeObject {
  const name = pool.metadata.name;
  const namespace = pool.metadata.namespace;
  if (!name || !namespace || !pool.metadata.uid) throw new Error('buildGatewayInferencePool: the pool needs metadata.name, namespace and uid (read it from the API)');
  const epp = config.endpointPicker;
  return {
    apiVersion: `${GIE_GROUP}/${GIE_VERSION}`,
    kind: 'InferencePool',
    metadata: {
      name,
      namespace,
      labels: { [LABEL_POOL]: name, [LABEL_PART_OF]: PART_OF_CHRYSALIS },
      ownerReferences: poolOwnerReference(pool),
    },
    spec: {
      selector: { matchLabels: routedReplicaSelector(pool) },
      targetPorts: [{ number: REPLICA_HTTPS_PORT }],
      endpointPickerRef: { kind: 'Service', name: `${name}${epp.serviceSuffix}`, port: { number: epp.port }, failureMode: epp.failureMode },
    },
  };
}

interface CrdShape {
  spec?: { group?: string; versions?: Array<{ name?: string; served?: boolean }> };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

/** The installed CRD serves inferencepools.inference.networking.k8s.io/v1 and is Established. */
export function crdServesV1(crd: KubeObject | undefined): boolean {
  if (!crd || crd.metadata?.name !== GIE_CRD_NAME || crd.metadata?.deletionTimestamp) return false;
  const shape = crd as CrdShape;
  const served = shape.spec?.versions?.some((v) => v.name === GIE_VERSION && v.served === true) ?? false;
  const established = shape.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  return served && established;
}

/**
 * What the operator caches of that CRD: the versions served and the conditions, not its schema (the
 * schema is most of the object and nothing here reads it).
 */
export function slimCrd<T extends KubeObject>(crd: T): T {
  const shape = crd as CrdShape & KubeObject;
  delete shape.metadata?.managedFields;
  const versions = shape.spec?.versions?.map((v) => ({ ...(v.name !== undefined ? { name: v.name } : {}), ...(v.served !== undefined ? { served: v.served } : {}) }));
  shape.spec = { ...(shape.spec?.group !== undefined ? { group: shape.spec.group } : {}), ...(versions ? { versions } : {}) };
  shape.status = { ...(shape.status?.conditions ? { conditions: shape.status.conditions } : {}) };
  return crd;
}
