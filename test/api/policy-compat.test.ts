// The operator hands an AttestationPolicy's spec to the verifier's parsePolicy, which rejects unknown
// fields (a misspelt allow list must not silently allow everything). So every field the CRD accepts must
// be a field the verifier knows, or a valid policy would make every node "not attested".
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parsePolicy } from '../../operator/src/attestation/policy.js';
import { CRD_DIR, loadCrds } from '../../dev/install-crds.js';

type Schema = Record<string, any>;

/** A value of every field the schema allows, each at its smallest valid setting. */
function everyField(schema: Schema): unknown {
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object':
      return Object.fromEntries(Object.entries<Schema>(schema.properties ?? {}).map(([k, v]) => [k, everyField(v)]));
    case 'array':
      return Array.from({ length: schema.minItems ?? 1 }, () => everyField(schema.items));
    case 'integer':
      return schema.minimum ?? 0;
    case 'boolean':
      return false;
    default:
      return 'x';
  }
}

const policyCrd = loadCrds().find((c) => c.spec.names.kind === 'AttestationPolicy')!;
const specSchema: Schema = policyCrd.spec.versions[0].schema.openAPIV3Schema.properties.spec;

test('the verifier knows every AttestationPolicy spec field', (t) => {
  const spec = everyField(specSchema) as Record<string, any>;
  // Values the verifier checks for shape; the names are what this test is about.
  spec.trustedRoots = ['-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----'];
  spec.allowedMeasurements = ['a'.repeat(96)];
  spec.allowedImageHashes = ['b'.repeat(64)];
  spec.allowedHostData = ['c'.repeat(64)];
  spec.replicaMeasurements = ['d'.repeat(96)];
  spec.replicaImageHashes = ['e'.repeat(64)];
  t.notThrows(() => parsePolicy({ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', spec }));
});

test('the AttestationPolicy sample parses into the verifier policy it describes', (t) => {
  const sample = parse(readFileSync(join(CRD_DIR, 'samples/attestationpolicy.yaml'), 'utf8'));
  const policy = parsePolicy(sample);
  t.false(policy.allowSimulated);
  t.deepEqual(policy.minimumTcb, sample.spec.minimumTcb);
  t.deepEqual(policy.gpu, sample.spec.gpu);
  t.is(policy.maxEvidenceAgeSeconds, sample.spec.maxEvidenceAgeSeconds);
});
