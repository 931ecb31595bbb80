// The default AttestationPolicy the operator creates: ProviderNodes without a policyRef are verified
// against `defaultPolicyName`, and without a policy of that name they are never attested (PolicyNotFound),
// so the operator creates one from its configuration (the chart's defaultPolicy.* values) whenever none
// exists. It only ever creates: a policy of that name, edited or written by anyone, is left as it is.
//
// Why the operator and not a helm hook: a hook creating a custom resource of a CRD the same release
// installs is mapped by helm right after the CRD is created, and fails ("resource mapping not found")
// whenever the apiserver has not yet established it; and helm's `lookup`, which kept a hook from
// re-creating an edited policy, sees nothing under `helm template` or GitOps tools.
import type { AttestationPolicy } from '../../api/attestationpolicy.js';
import type { OperatorConfig } from '../../config.js';
import { ANNOTATION_EDIT, LABEL_PART_OF, PART_OF_CHRYSALIS } from '../../marks.js';
import { apiVersionOf, type KubeObject } from '../../kube/resource.js';
import { AttestationPolicies } from '../../kube/chrysalis-resources.js';

/** The policy to create when the policy named `name` does not exist; undefined when none is to be created. */
export function defaultPolicyToCreate(config: Pick<OperatorConfig, 'defaultPolicyName' | 'defaultPolicySpec'>, name: string): (AttestationPolicy & KubeObject) | undefined {
  if (name !== config.defaultPolicyName || !config.defaultPolicySpec) return undefined;
  return {
    apiVersion: apiVersionOf(AttestationPolicies),
    kind: 'AttestationPolicy',
    metadata: {
      name,
      labels: { [LABEL_PART_OF]: PART_OF_CHRYSALIS },
      annotations: { [ANNOTATION_EDIT]: `yours: kubectl edit attestationpolicy ${name}; the operator created it because none existed and never changes it` },
    },
    spec: structuredClone(config.defaultPolicySpec),
  } as unknown as AttestationPolicy & KubeObject;
}
