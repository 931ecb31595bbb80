// Static checks of the CRDs in crds/: the conventions every kind follows, checked without a cluster.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CRD_DIR, loadCrds } from '../../dev/install-crds.js';

type Schema = Record<string, any>;

const crds = loadCrds();
const byKind = new Map(crds.map((c) => [c.spec.names.kind as string, c]));
const schemaOf = (crd: Schema): Schema => crd.spec.versions[0].schema.openAPIV3Schema;

/** Every schema node with its path, e.g. `spec.gpus.count`, `status.conditions[].type`. */
function* walk(schema: Schema, path: string): Generator<[string, Schema]> {
  yield [path, schema];
  for (const [name, child] of Object.entries<Schema>(schema.properties ?? {})) {
    yield* walk(child, path ? `${path}.${name}` : name);
  }
  if (schema.items) yield* walk(schema.items, `${path}[]`);
}

const EXPECTED = {
  ProviderNode: { plural: 'providernodes', shortNames: ['pnode'], scope: 'Cluster' },
  InferencePool: { plural: 'inferencepools', shortNames: ['ipool'], scope: 'Namespaced' },
  AttestationPolicy: { plural: 'attestationpolicies', shortNames: ['apol'], scope: 'Cluster' },
  SettlementAccount: { plural: 'settlementaccounts', shortNames: ['sacct'], scope: 'Namespaced' },
} as const;

test('crds/ holds exactly the four kinds, each in chrysalis.dev_<plural>.yaml', (t) => {
  t.deepEqual([...byKind.keys()].sort(), Object.keys(EXPECTED).sort());
  for (const [kind, want] of Object.entries(EXPECTED)) {
    t.true(existsSync(join(CRD_DIR, `chrysalis.dev_${want.plural}.yaml`)), kind);
  }
});

for (const [kind, want] of Object.entries(EXPECTED)) {
  test(`${kind} has its group, version, scope, short names and the chrysalis category`, (t) => {
    const crd = byKind.get(kind)!;
    t.is(crd.metadata.name, `${want.plural}.chrysalis.dev`);
    t.is(crd.spec.group, 'chrysalis.dev');
    t.is(crd.spec.scope, want.scope);
    t.deepEqual(crd.spec.names.shortNames, want.shortNames);
    t.deepEqual(crd.spec.names.categories, ['chrysalis']);
    t.deepEqual(crd.spec.versions.map((v: Schema) => v.name), ['v1alpha1']);
    t.false(crd.spec.names.shortNames.includes('infpool'), 'infpool belongs to the Gateway API Inference Extension');
  });

  test(`${kind} has a status subresource and printer columns ending in Age`, (t) => {
    const version = byKind.get(kind)!.spec.versions[0];
    t.deepEqual(version.subresources, { status: {} });
    const columns: Schema[] = version.additionalPrinterColumns;
    t.true(columns.length >= 4);
    t.deepEqual(columns.at(-1), { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
    for (const column of columns.slice(0, -1)) t.truthy(column.description, `${kind} column ${column.name}`);
  });

  test(`every ${kind} field has a description`, (t) => {
    const missing = [...walk(schemaOf(byKind.get(kind)!), '')]
      // The apiserver forbids anything but `type` on metadata.
      .filter(([path, node]) => path !== 'metadata' && !node.description)
      .map(([path]) => path || '(root)');
    t.deepEqual(missing, []);
  });

  test(`${kind} status has observedGeneration and standard conditions keyed by type`, (t) => {
    const status = schemaOf(byKind.get(kind)!).properties.status;
    t.is(status.properties.observedGeneration.type, 'integer');
    const conditions = status.properties.conditions;
    t.is(conditions['x-kubernetes-list-type'], 'map');
    t.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    t.deepEqual(conditions.items.required, ['type', 'status', 'lastTransitionTime', 'reason', 'message']);
    t.deepEqual(conditions.items.properties.status.enum, ['True', 'False', 'Unknown']);
    // One shape for all kinds, so the generated shared Condition type fits every one of them.
    t.deepEqual(conditions.items, schemaOf(byKind.get('ProviderNode')!).properties.status.properties.conditions.items);
  });

  test(`${kind} spec is strict and every list and string under a CEL rule is bounded`, (t) => {
    const problems: string[] = [];
    for (const [path, node] of walk(schemaOf(byKind.get(kind)!), '')) {
      if (node['x-kubernetes-preserve-unknown-fields']) problems.push(`${path}: preserves unknown fields`);
      if (node.type === 'array' && node.maxItems === undefined) problems.push(`${path}: array without maxItems`);
      // CEL's cost estimate multiplies by string lengths: bound every free-form string in the spec.
      const boundedString = node.maxLength !== undefined || node.enum || node.pattern || node.format;
      if (path.startsWith('spec') && node.type === 'string' && !boundedString) problems.push(`${path}: unbounded string`);
    }
    t.deepEqual(problems, []);
  });

  test(`every ${kind} CEL rule has a message naming the field`, (t) => {
    for (const [path, node] of walk(schemaOf(byKind.get(kind)!), '')) {
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        t.regex(rule.message ?? '', path.startsWith('status') ? /status\.[a-zA-Z]/ : /spec\.[a-zA-Z]/, `${path}: ${rule.rule}`);
      }
    }
  });

  test(`the ${kind} sample declares its kind and chrysalis.dev/v1alpha1`, (t) => {
    const sample = parse(readFileSync(join(CRD_DIR, 'samples', `${kind.toLowerCase()}.yaml`), 'utf8'));
    t.is(sample.apiVersion, 'chrysalis.dev/v1alpha1');
    t.is(sample.kind, kind);
    t.truthy(sample.metadata?.name);
    t.is(sample.metadata?.namespace, undefined, 'samples take the namespace they are applied to');
  });
}

test('the CRDs carry at least 15 distinct CEL rules between them', (t) => {
  const rules = new Set<string>();
  for (const crd of crds) {
    for (const [, node] of walk(schemaOf(crd), '')) {
      for (const rule of node['x-kubernetes-validations'] ?? []) rules.add(`${crd.spec.names.kind}: ${rule.message}`);
    }
  }
  t.true(rules.size >= 15, `${rules.size} rules`);
});

test('InferencePool documents its fully qualified name, distinct from the Gateway API kind', (t) => {
  t.regex(schemaOf(byKind.get('InferencePool')!).description, /inferencepools\.chrysalis\.dev/);
});

test('the Attested printer column reads the Attested condition', (t) => {
  const columns: Schema[] = byKind.get('ProviderNode')!.spec.versions[0].additionalPrinterColumns;
  t.deepEqual(
    columns.map((c) => c.name),
    ['Node', 'TEE', 'Topology', 'GPUs', 'Attested', 'Expires', 'Age'],
  );
  t.is(columns.find((c) => c.name === 'Attested')!.jsonPath, '.status.conditions[?(@.type=="Attested")].status');
});
