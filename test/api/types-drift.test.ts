// operator/src/api is generated from crds/; this fails when someone edits one without regenerating.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_DIR, CRD_DIR, GENERATED_HEADER, findDrift, generateApiTypes } from '../../scripts/generate-api-types.js';

test('the committed API types are exactly what the generator makes from crds/', (t) => {
  const drift = findDrift(generateApiTypes());
  t.deepEqual(drift, [], `run: npx tsx scripts/generate-api-types.ts\n${drift.join('\n')}`);
});

test('every generated file starts with the generated-code header', (t) => {
  for (const [name, content] of generateApiTypes()) {
    t.true(content.startsWith(`${GENERATED_HEADER}\n`), name);
  }
});

test('one file per kind plus index.ts and condition.ts', (t) => {
  t.deepEqual(
    [...generateApiTypes().keys()].sort(),
    ['attestationpolicy.ts', 'condition.ts', 'index.ts', 'inferencepool.ts', 'providernode.ts', 'settlementaccount.ts'],
  );
});

// The drift check itself must be able to fail: a CRD edit that is not regenerated is reported.
test('a CRD change without regeneration is reported as drift', (t) => {
  const crdCopy = mkdtempSync(join(tmpdir(), 'chrysalis-crds-'));
  t.teardown(() => rmSync(crdCopy, { recursive: true, force: true }));
  cpSync(CRD_DIR, crdCopy, { recursive: true });
  const file = join(crdCopy, 'chrysalis.dev_providernodes.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('                cordoned:\n', '                drained:\n'));
  t.deepEqual(findDrift(generateApiTypes(crdCopy), API_DIR), ['providernode.ts: stale']);
});

test('required schema fields are required in TypeScript and the rest optional', (t) => {
  const source = generateApiTypes().get('providernode.ts')!;
  t.regex(source, /\n {2}nodeName: string;/);
  t.regex(source, /\n {2}priceCoefficient\?: number;/);
  t.regex(source, /\n {2}tee: 'sev-snp' \| 'tdx' \| 'simulated';/);
  t.regex(source, /\n {2}conditions\?: Condition\[\];/);
});
