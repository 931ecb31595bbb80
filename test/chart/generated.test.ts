// The chart's generated templates (CRDs from crds/, RBAC rules from operator/src/rbac/permissions.ts) match
// their sources: a change to either without `npx tsx scripts/generate-chart.ts` fails here.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { crdTemplate, drift, GENERATED_HEADER, generatedFiles } from '../../scripts/generate-chart.js';
import { chartDir, find, render, repoRoot } from './helm.js';

const run = promisify(execFile);

test('the generated chart templates are up to date with crds/ and permissions.ts', (t) => {
  t.deepEqual(drift(), [], 'run `npx tsx scripts/generate-chart.ts` and commit the result');
});

test('generate-chart --check exits 0 on a clean tree', async (t) => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/generate-chart.ts'), '--check'], { cwd: repoRoot });
  t.regex(stdout, /up to date/);
});

test('every CRD in crds/ has exactly one generated template, whose first line says it is generated', (t) => {
  const sources = readdirSync(join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
  const templates = readdirSync(join(chartDir, 'templates/crds')).sort();
  t.deepEqual(templates, sources);
  for (const path of generatedFiles().keys()) {
    const first = readFileSync(path, 'utf8').split('\n')[0]!;
    t.true(first.includes(GENERATED_HEADER), `${path}: ${first}`);
  }
});

test('a rendered CRD has the same spec as its source in crds/', async (t) => {
  const rendered = find(await render(), 'CustomResourceDefinition');
  for (const file of readdirSync(join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml'))) {
    const source = parse(readFileSync(join(repoRoot, 'crds', file), 'utf8'), { version: '1.1' }) as { metadata: { name: string }; spec: unknown };
    const crd = rendered.find((c) => c.metadata.name === source.metadata.name);
    t.truthy(crd, source.metadata.name);
    t.deepEqual(crd?.spec, source.spec, file);
  }
});

test('the generator refuses a file that is not one CustomResourceDefinition', (t) => {
  t.throws(() => crdTemplate('x.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n'), { message: /not CustomResourceDefinition/ });
  t.throws(() => crdTemplate('x.yaml', 'kind: CustomResourceDefinition\nmetadata: {name: a}\n---\nkind: CustomResourceDefinition\nmetadata: {name: b}\n'), { message: /exactly one/ });
});

test('template braces inside a CRD description are escaped, not executed', (t) => {
  const text = crdTemplate('x.yaml', 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.chrysalis.dev}\nspec:\n  description: "use {{ .Values }} here"\n');
  t.true(text.includes('{{ "{{" }}'));
});
