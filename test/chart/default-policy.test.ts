// The chart gives the operator a strict default AttestationPolicy to create (config defaultPolicySpec), so
// a fresh install never verifies nodes against "no policy" (which admitted any image, TCB, VMPL,
// debuggable guest or CC-off GPU): hardware evidence only, debug and migration off, GPU CC mode on, Intel
// collateral required and OutOfDate TDX platforms refused, an SNP firmware floor, evidence age and
// re-attestation. The image allow list is the operator's to fill in; until then the policy is flagged
// AllowsAnyImage. Each case reads the policy the operator would create from the rendered configuration.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allowsAnyImage, parsePolicy, unconstrainedChecks } from '../../operator/src/attestation/policy.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { defaultPolicyToCreate } from '../../operator/src/controllers/attestationpolicy/default-policy.js';
import { ciValuesFiles, find, one, render, type K8sObject } from './helm.js';
import { testTempDir } from '../_temp-dir.js';

type Policy = K8sObject & { spec: Record<string, any> };
const configOf = (objects: K8sObject[]) => parseOperatorConfig((one(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator')).data as Record<string, string>)['config.yaml']!, 'rendered config');
/** The policy the operator creates from the rendered configuration when none of its name exists. */
const policyOf = (objects: K8sObject[]) => {
  const config = configOf(objects);
  return defaultPolicyToCreate(config, config.defaultPolicyName) as unknown as Policy;
};

test('the defaults install a strict "default" policy that a debuggable guest, a CC-off GPU, stale evidence or an OutOfDate TDX host cannot pass', async (t) => {
  const policy = policyOf(await render());
  t.is(policy.metadata.name, 'default');
  t.like(policy.spec, {
    allowSimulated: false, debugAllowed: false, migrationAgentAllowed: false,
    gpu: { ccModeRequired: true }, tdx: { collateralRequired: true },
    minimumTcb: { snp: 8 }, allowedVmpls: [0],
    maxEvidenceAgeSeconds: 300, reattestIntervalSeconds: 3600, quarantineGraceSeconds: 300,
  });
  t.false((policy.spec.tdx.acceptedTcbStatuses as string[]).includes('OutOfDate'));
  // The verifier reads it as written (no unknown field), and what it leaves open is only what the
  // operator must choose: the images, the Kata agent policy, the GPU firmware, SMT.
  const parsed = parsePolicy(policy);
  t.deepEqual(unconstrainedChecks(parsed), ['measurement', 'imageHash', 'hostData', 'smt', 'gpuDriver', 'gpuVbios']);
  t.true(allowsAnyImage(parsed), 'flagged AllowsAnyImage until the operator pins images');
});

test('the default policy is the operator\'s to create, named after operator.config.defaultPolicyName; the chart renders no AttestationPolicy and no hook', async (t) => {
  const objects = await render({ set: ['operator.config.defaultPolicyName=fleet-strict'] });
  t.deepEqual(find(objects, 'AttestationPolicy'), [], 'no custom resource of the release\'s own CRD (helm could not map it before the CRD is established)');
  t.false(objects.some((o) => o.metadata.annotations?.['helm.sh/hook']), 'no hooks');
  const policy = policyOf(objects);
  t.is(policy.metadata.name, 'fleet-strict');
  t.regex(policy.metadata.annotations?.['chrysalis.dev/edit'] ?? '', /kubectl edit attestationpolicy fleet-strict/);
  // Creating is the only write the operator is granted on policies (their status aside).
  const role = one(objects, 'ClusterRole', (o) => o.metadata.name.endsWith('-operator'));
  const rules = (role as unknown as { rules: Array<{ resources: string[]; verbs: string[] }> }).rules.filter((r) => r.resources.includes('attestationpolicies'));
  t.deepEqual(rules.flatMap((r) => r.verbs).sort(), ['create', 'get', 'list', 'watch']);
});

test('the production scenario pins its image, HOST_DATA and GPU firmware, so no other image passes', async (t) => {
  const policy = policyOf(await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('production-values.yaml')) }));
  const parsed = parsePolicy(policy);
  t.false(allowsAnyImage(parsed));
  t.deepEqual(unconstrainedChecks(parsed), ['measurement', 'smt']);
  t.deepEqual(parsed.minimumTcb, { bootloader: 9, snp: 23, microcode: 72 });
});

test('defaultPolicy.create=false, and the simulated scenario (whose policy names its own root), give the operator no policy to create', async (t) => {
  t.is(configOf(await render({ set: ['defaultPolicy.create=false'] })).defaultPolicySpec, undefined);
  t.is(configOf(await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('simulated-values.yaml')) })).defaultPolicySpec, undefined);
});

test('the values schema refuses a misspelt default-policy key and a malformed image hash', async (t) => {
  for (const set of ['defaultPolicy.allowedImageHash[0]=' + 'ab'.repeat(32), 'defaultPolicy.allowedImageHashes[0]=abc', 'defaultPolicy.tdx.acceptedTcbStatuses[0]=OutOfDate']) {
    const err = await t.throwsAsync(render({ set: [set] }));
    t.regex(err!.message, /defaultPolicy/, set);
  }
});

test('defaultPolicy.allowSimulated with trustedRoots renders a policy that trusts that simulated root; without a root the chart refuses', async (t) => {
  const tee = SimulatedTee.create({ gpus: 1 });
  const values = join(testTempDir('chrysalis-policy-values-'), 'values.json');
  await writeFile(values, JSON.stringify({ defaultPolicy: { allowSimulated: true, trustedRoots: [tee.rootPem] } }));
  const policy = policyOf(await render({ valuesFiles: [values] }));
  t.is(policy.spec.allowSimulated, true);
  t.deepEqual(policy.spec.trustedRoots, [tee.rootPem]);
  t.like(policy.spec, { debugAllowed: false, gpu: { ccModeRequired: true } }, 'the rest stays strict');
  t.deepEqual(parsePolicy(policy).trustedRoots, [tee.rootPem]);
  const err = await t.throwsAsync(render({ set: ['defaultPolicy.allowSimulated=true'] }));
  t.regex(err!.message, /defaultPolicy\.trustedRoots/);
});
