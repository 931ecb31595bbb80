// The resources the InferencePool controller reads and writes, described once for its informers and
// client calls (see kube/resource.ts for why resources are explicit rather than discovered).
import type { ResourceType } from '../../kube/resource.js';

export const InferencePools: ResourceType = { group: 'chrysalis.dev', version: 'v1alpha1', plural: 'inferencepools', kind: 'InferencePool', namespaced: true };
export const ProviderNodes: ResourceType = { group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', kind: 'ProviderNode', namespaced: false };
