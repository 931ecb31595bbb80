// The chart installs a strict default AttestationPolicy, so a fresh install never verifies nodes
// against "no policy" (which admitted any image, TCB, VMPL, debuggable guest or CC-off GPU): hardware
// evidence only, debug and migration off, GPU CC mode on, Intel collateral required and OutOfDate TDX
// platforms refused, an SNP firmware floor, evidence age and re-attestation. The image allow list is the
// operator's to fill in; until then the policy is flagged AllowsAnyImage.
import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowsAnyImage, parsePolicy, unconstrainedChecks } from '../../operator/src/attestation/policy.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { ciValuesFiles, find, one, render, type K8sObject } from './helm.js';

type Policy = K8sObject & { spec: Record<string, any> };
const policyOf = (objects: K8sObject[]) => one(objects, 'AttestationPolicy') as Policy;

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

test('the default policy is created once, as a post-install hook, and named after operator.config.defaultPolicyName', async (t) => {
  const policy = policyOf(await render({ set: ['operator.config.defaultPolicyName=fleet-strict'] }));
  t.is(policy.metadata.name, 'fleet-strict');
  t.is(policy.metadata.annotations?.['helm.sh/hook'], 'post-install,post-upgrade');
  t.is(policy.metadata.annotations?.['helm.sh/hook-delete-policy'], undefined, 'never deleted and re-created over the operator\'s edits');
});

test('the production scenario pins its image, HOST_DATA and GPU firmware, so no other image passes', async (t) => {
  const policy = policyOf(await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('production-values.yaml')) }));
  const parsed = parsePolicy(policy);
  t.false(allowsAnyImage(parsed));
  t.deepEqual(unconstrainedChecks(parsed), ['measurement', 'smt']);
  t.deepEqual(parsed.minimumTcb, { bootloader: 9, snp: 23, microcode: 72 });
});

test('defaultPolicy.create=false, and the simulated scenario (whose policy names its own root), render no policy', async (t) => {
  t.deepEqual(find(await render({ set: ['defaultPolicy.create=false'] }), 'AttestationPolicy'), []);
  t.deepEqual(find(await render({ valuesFiles: ciValuesFiles.filter((f) => f.endsWith('simulated-values.yaml')) }), 'AttestationPolicy'), []);
});

test('the values schema refuses a misspelt default-policy key and a malformed image hash', async (t) => {
  for (const set of ['defaultPolicy.allowedImageHash[0]=' + 'ab'.repeat(32), 'defaultPolicy.allowedImageHashes[0]=abc', 'defaultPolicy.tdx.acceptedTcbStatuses[0]=OutOfDate']) {
    const err = await t.throwsAsync(render({ set: [set] }));
    t.regex(err!.message, /defaultPolicy/, set);
  }
});

test('defaultPolicy.allowSimulated with trustedRoots renders a policy that trusts that simulated root; without a root the chart refuses', async (t) => {
  const tee = SimulatedTee.create({ gpus: 1 });
  const values = join(await mkdtemp(join(tmpdir(), 'chrysalis-policy-values-')), 'values.json');
  await writeFile(values, JSON.stringify({ defaultPolicy: { allowSimulated: true, trustedRoots: [tee.rootPem] } }));
  const policy = policyOf(await render({ valuesFiles: [values] }));
  t.is(policy.spec.allowSimulated, true);
  t.deepEqual(policy.spec.trustedRoots, [tee.rootPem]);
  t.like(policy.spec, { debugAllowed: false, gpu: { ccModeRequired: true } }, 'the rest stays strict');
  t.deepEqual(parsePolicy(policy).trustedRoots, [tee.rootPem]);
  const err = await t.throwsAsync(render({ set: ['defaultPolicy.allowSimulated=true'] }));
  t.regex(err!.message, /defaultPolicy\.trustedRoots/);
});
