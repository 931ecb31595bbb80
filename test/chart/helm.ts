// Helpers for the chart tests: run helm/kubectl from the control-plane binaries and render the chart.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { controlPlaneBinaries } from '../../dev/cluster/binaries.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const chartDir = join(repoRoot, 'charts/chrysalis');

/** The chart's test scenarios: charts/chrysalis/ci/*-values.yaml, as absolute paths. */
export const ciValuesFiles: string[] = readdirSync(join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort()
  .map((f) => join(chartDir, 'ci', f));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary from the control-plane bin directory; never throws on a non-zero exit. */
export async function runBin(name: 'helm' | 'kubectl', args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const { binDir } = await controlPlaneBinaries();
  return new Promise((resolveRun) => {
    execFile(join(binDir, name), args, {
      maxBuffer: 64 * 1024 * 1024,
      // helm's own config and caches under /tmp: the tests never read or change the user's helm setup.
      env: { ...process.env, HELM_CACHE_HOME: '/tmp/chrysalis-helm/cache', HELM_CONFIG_HOME: '/tmp/chrysalis-helm/config', HELM_DATA_HOME: '/tmp/chrysalis-helm/data', ...env },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolveRun({ code, stdout, stderr });
    });
  });
}

export const helm = (args: string[], env?: Record<string, string>) => runBin('helm', args, env);
export const kubectl = (args: string[], env?: Record<string, string>) => runBin('kubectl', args, env);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Parses YAML as Kubernetes does (YAML 1.1 scalars: a bare `on` is a boolean). */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) out.push(value);
  }
  return out;
}

export interface RenderOptions {
  valuesFiles?: string[];
  set?: string[];
  namespace?: string;
  release?: string;
}

/** `helm template` of the chart; throws with helm's message when rendering fails. */
export async function render(options: RenderOptions = {}): Promise<K8sObject[]> {
  const args = ['template', options.release ?? 'chry', chartDir, '--namespace', options.namespace ?? 'chrysalis-system'];
  for (const f of options.valuesFiles ?? []) args.push('--values', f);
  for (const s of options.set ?? []) args.push('--set', s);
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return parseManifests(r.stdout);
}

export function find(objects: K8sObject[], kind: string, predicate: (o: K8sObject) => boolean = () => true): K8sObject[] {
  return objects.filter((o) => o.kind === kind && predicate(o));
}

export function one(objects: K8sObject[], kind: string, predicate?: (o: K8sObject) => boolean): K8sObject {
  const found = find(objects, kind, predicate);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  return found[0]!;
}

/** Scenario name for test titles: "defaults" or the ci file's base name. */
export function scenarioName(file?: string): string {
  return file ? `ci/${file.split('/').pop()}` : 'the defaults';
}
