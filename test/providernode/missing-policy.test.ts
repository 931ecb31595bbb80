// A ProviderNode whose policyRef is misspelt, on the real apiserver: the controller issues no challenge
// (so no attester can get evidence verified against an empty policy), a verdict written anyway does not
// attest the node, and Attested says PolicyNotFound with the ref. Creating the policy starts attestation.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { eventually, providerNodeRun } from '../fixtures/provider-node-controller.js';

test('a node whose policyRef is misspelt is not attested until the policy it names exists', async (t) => {
  const fx = await providerNodeRun(t);
  const { core, kc } = fx;
  const nodeName = `pn-nopolicy-${fx.run}`;
  const policyName = `strcit-${fx.run}`; // the operator meant "strict-…"; no policy of this name exists
  await fx.createGpuNode(nodeName);
  await fx.createProviderNode(nodeName, policyName);
  fx.startController();

  const getPn = () => fx.getProviderNode(nodeName);
  const attestedCondition = (pn: ProviderNode) => pn.status?.conditions?.find((c) => c.type === 'Attested');
  const missing = await eventually('Attested=False PolicyNotFound', async () => {
    const pn = await getPn();
    return attestedCondition(pn)?.reason === 'PolicyNotFound' ? pn : undefined;
  });
  t.is(attestedCondition(missing)?.status, 'False');
  t.regex(attestedCondition(missing)?.message ?? '', new RegExp(`spec\\.policyRef\\.name "${policyName}" names no AttestationPolicy`));
  t.is(missing.status?.attestation?.challenge, undefined, 'no challenge for an attester to answer');

  const node = await core.readNode({ name: nodeName });
  t.true((node.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED), 'the unattested taint stays');

  // The policy appears: its informer event re-queues the node, which is challenged.
  await fx.createPolicy(policyName);
  const challenged = await eventually('a challenge once the policy exists', async () => {
    const pn = await getPn();
    return pn.status?.attestation?.challenge?.nonce ? pn : undefined;
  });
  t.is(attestedCondition(challenged)?.reason, 'AwaitingEvidence');

  // A verdict (as the attestation service records it) attests the node …
  const now = Date.now();
  await new RestClient(kc).request('PATCH', resourcePath(ProviderNodes, undefined, nodeName, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { attestation: { challenge: null, verifiedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(), gpus: Array.from({ length: 8 }, (_, index) => ({ index })) } } },
  });
  await eventually('the attested label', async () => {
    const n = await core.readNode({ name: nodeName });
    return n.metadata?.labels?.[LABEL_ATTESTED] === 'true' ? n : undefined;
  });

  // … and deleting the policy takes the attestation away at once, fresh verdict or not.
  await fx.custom.deleteClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'attestationpolicies', name: policyName });
  const lost = await eventually('Attested=False PolicyNotFound after the policy is deleted', async () => {
    const pn = await getPn();
    return attestedCondition(pn)?.reason === 'PolicyNotFound' ? pn : undefined;
  });
  t.is(lost.status?.conditions?.find((c) => c.type === 'Schedulable')?.status, 'False');
  await eventually('the unattested taint back', async () => {
    const n = await core.readNode({ name: nodeName });
    return (n.spec?.taints ?? []).some((tn) => tn.key === TAINT_UNATTESTED) && n.metadata?.labels?.[LABEL_ATTESTED] === undefined ? n : undefined;
  });
});
