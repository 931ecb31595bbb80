// Policy input (an AttestationPolicy resource or its spec, from YAML/JSON) is validated strictly: unknown
// or mistyped fields are POLICY_INVALID, so a typo never silently widens what is accepted.
import test from 'ava';
import { parse as parseYaml } from 'yaml';
import { parsePolicy } from '../../operator/src/attestation/policy.js';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { certsOf, codes, readVector, SNP_TIME } from './vectors.js';

test('an AttestationPolicy resource and its bare spec parse to the same policy', (t) => {
  const spec = { debugAllowed: false, allowedVmpls: [0], minimumTcb: { snp: 8, microcode: 115 }, gpu: { ccModeRequired: true, driverVersions: ['550.90.07'] }, maxEvidenceAgeSeconds: 300 };
  const resource = parseYaml(`apiVersion: chrysalis.dev/v1alpha1\nkind: AttestationPolicy\nmetadata: {name: strict}\nspec: ${JSON.stringify(spec)}\n`);
  t.deepEqual(parsePolicy(resource), parsePolicy(spec));
  t.deepEqual(parsePolicy(spec).minimumTcb, { snp: 8, microcode: 115 });
});

test('a missing policy is POLICY_NOT_FOUND, never the empty policy that allows any image', (t) => {
  for (const input of [undefined, null]) {
    const err = t.throws(() => parsePolicy(input), { instanceOf: AttestationError });
    t.is(err?.code, 'POLICY_NOT_FOUND');
  }
});

for (const [title, input] of [
  ['an unknown field', { allowedMeasurement: ['00'] }],
  ['a misspelt nested field', { gpu: { ccModeRequire: true } }],
  ['a non-boolean flag', { debugAllowed: 'yes' }],
  ['a measurement that is not a digest', { allowedMeasurements: ['abc'] }],
  ['a negative minimum', { minimumTcb: { snp: -1 } }],
  ['a VMPL above 3', { allowedVmpls: [4] }],
  ['a root that is not PEM', { trustedRoots: ['hello'] }],
  ['another kind', { kind: 'InferencePool', spec: {} }],
] as const) {
  test(`${title} is POLICY_INVALID`, (t) => {
    const err = t.throws(() => parsePolicy(input), { instanceOf: AttestationError });
    t.is(err?.code, 'POLICY_INVALID');
  });
}

test('a policy root that is not self-signed makes verification fail closed with POLICY_INVALID', (t) => {
  const [ask] = certsOf('sev-snp', 'go-sev-guest/ask_ark_milan.pem');
  const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(ask!).toString('base64')}\n-----END CERTIFICATE-----\n`;
  const v = verifySevSnp({ report: readVector('sev-snp', 'trustee/test-report.bin'), certificates: certsOf('sev-snp', 'trustee/test-vcek.der') }, { now: SNP_TIME, policy: { trustedRoots: [pem] } });
  t.deepEqual(codes(v), ['POLICY_INVALID']);
});

// Fail closed on what the apiserver would refuse: a CLI policy file is checked as the CRD checks a resource.
for (const [title, input, message] of [
  ['a misspelt TDX TCB status', { tdx: { acceptedTcbStatuses: ['UpToDate', 'OutofDate'] } },
    /^policy field tdx\.acceptedTcbStatuses\[1\]: "OutofDate" is not a TDX TCB status a policy may accept \(allowed: UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded\)$/],
  ['Revoked as an accepted TCB status', { tdx: { acceptedTcbStatuses: ['UpToDate', 'Revoked'] } }, /tdx\.acceptedTcbStatuses\[1\]: "Revoked" is not a TDX TCB status/],
  ['accepted TCB statuses without UpToDate', { tdx: { acceptedTcbStatuses: ['OutOfDate'] } }, /^policy field tdx\.acceptedTcbStatuses: must include UpToDate/],
  ['an accepted TCB status listed twice', { tdx: { acceptedTcbStatuses: ['UpToDate', 'UpToDate'] } }, /tdx\.acceptedTcbStatuses\[1\]: UpToDate is listed twice/],
  ['an operational field the CRD does not have', { gracePeriodSeconds: 60 }, /^policy field gracePeriodSeconds: unknown field \(allowed: .*reattestIntervalSeconds, quarantineGraceSeconds\)$/],
  ['a misspelt re-attestation interval', { reattestationIntervalSeconds: 600 }, /^policy field reattestationIntervalSeconds: unknown field/],
  ['a re-attestation interval below the CRD minimum', { reattestIntervalSeconds: 5 }, /^policy field reattestIntervalSeconds: must be an integer 30\.\.604800$/],
  ['a quarantine grace that is not a number', { quarantineGraceSeconds: '5m' }, /^policy field quarantineGraceSeconds: must be an integer 0\.\.86400$/],
] as const) {
  test(`${title} is POLICY_INVALID naming the field and what is allowed`, (t) => {
    const err = t.throws(() => parsePolicy(input), { instanceOf: AttestationError });
    t.is(err?.code, 'POLICY_INVALID');
    t.regex(err!.message, message);
  });
}

test('the CRD\'s operational fields are accepted and left out of the verifier\'s policy; known TCB statuses are kept', (t) => {
  const policy = parsePolicy({ reattestIntervalSeconds: 3600, quarantineGraceSeconds: 0, tdx: { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] } });
  t.deepEqual(policy, { tdx: { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] } });
});
