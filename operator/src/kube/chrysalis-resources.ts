// ResourceType descriptors of the Chrysalis kinds, derived from the generated API constants so the
// REST paths can never disagree with the CRDs.
import { GROUP, RESOURCES, VERSION } from '../api/index.js';
import type { ResourceType } from './resource.js';

function fromApi(info: (typeof RESOURCES)[keyof typeof RESOURCES]): ResourceType {
  return { group: GROUP, version: VERSION, plural: info.plural, kind: info.kind, namespaced: info.namespaced };
}

export const ProviderNodes: ResourceType = fromApi(RESOURCES.ProviderNode);
export const InferencePools: ResourceType = fromApi(RESOURCES.InferencePool);
export const AttestationPolicies: ResourceType = fromApi(RESOURCES.AttestationPolicy);
export const SettlementAccounts: ResourceType = fromApi(RESOURCES.SettlementAccount);
