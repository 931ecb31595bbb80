// The operator's defaultPolicySpec is checked when the configuration is read, as the verifier reads a
// policy: a typo or a wrong type stops the operator at start with the field named, instead of a default
// policy the apiserver refuses (or one that silently means something else) later.
import test from 'ava';
import { ConfigError, parseOperatorConfig } from '../../operator/src/config.js';
import { defaultPolicyToCreate } from '../../operator/src/controllers/attestationpolicy/default-policy.js';

test('a defaultPolicySpec is read, and makes the policy to create under defaultPolicyName only', (t) => {
  const config = parseOperatorConfig('defaultPolicyName: strict\ndefaultPolicySpec:\n  debugAllowed: false\n  allowedVmpls: [0]\n');
  t.deepEqual(config.defaultPolicySpec, { debugAllowed: false, allowedVmpls: [0] });
  const policy = defaultPolicyToCreate(config, 'strict');
  t.like(policy, { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: 'strict' }, spec: { debugAllowed: false, allowedVmpls: [0] } });
  t.is(defaultPolicyToCreate(config, 'other'), undefined, 'another absent policy is never created');
  t.is(defaultPolicyToCreate(parseOperatorConfig('defaultPolicyName: strict\n'), 'strict'), undefined, 'without a spec none is created');
});

test('a defaultPolicySpec the verifier would not read stops the configuration, naming the field', (t) => {
  for (const [yaml, field] of [
    ['defaultPolicySpec:\n  debugAllowd: false\n', /defaultPolicySpec: .*debugAllowd/],
    ['defaultPolicySpec:\n  debugAllowed: "no"\n', /defaultPolicySpec: .*debugAllowed/],
    ['defaultPolicySpec:\n  allowedImageHashes: [abc]\n', /defaultPolicySpec: .*allowedImageHashes/],
    ['defaultPolicySpec: [debugAllowed]\n', /defaultPolicySpec must be a mapping/],
  ] as const) {
    const err = t.throws(() => parseOperatorConfig(yaml, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, field, yaml);
  }
});
