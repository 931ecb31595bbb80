// The REST descriptions of the Chrysalis kinds the settlement code reads and writes (kube/resource.ts
// holds the built-in ones).
import type { KubeObject, ResourceType } from '../kube/resource.js';

export const ProviderNodes: ResourceType = { group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', kind: 'ProviderNode', namespaced: false };
export const InferencePools: ResourceType = { group: 'chrysalis.dev', version: 'v1alpha1', plural: 'inferencepools', kind: 'InferencePool', namespaced: true };
export const SettlementAccounts: ResourceType = { group: 'chrysalis.dev', version: 'v1alpha1', plural: 'settlementaccounts', kind: 'SettlementAccount', namespaced: true };

/** A generated API type usable where the kube layer wants a KubeObject. */
export type Kube<T> = T & KubeObject;
