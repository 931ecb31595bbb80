// `chrysalis plan -f pool.yaml`: where an InferencePool's replicas would land on the live fleet, or why
// not, without writing anything. The fleet is listed (ProviderNodes, Nodes, Pods) and planned with the
// controller's own engine (planPoolDryRun). Exit 0: every replica would be placed; 1: some would not
// (reasons printed); 2: the manifest is unusable (the message names the field) or the cluster is.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseAllDocuments } from 'yaml';
import type { InferencePool, ProviderNode } from '../../../operator/src/api/index.js';
import { DEFAULT_CONFIG } from '../../../operator/src/config.js';
import { fleetNodesFromObjects, planPoolDryRun } from '../../../operator/src/controllers/inferencepool/dry-run.js';
import { ProviderNodes } from '../../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, type KubeObject } from '../../../operator/src/kube/resource.js';
import { ModelSourceError, parseModelSource } from '../../../operator/src/model/model-source.js';
import { connect, UsageError } from '../kube.js';
import { colour } from '../views/colour.js';
import { formatData, OUTPUT_FORMATS, type OutputFormat } from '../views/output.js';
import { renderTable } from '../views/table.js';

const HEX64 = /^[0-9a-f]{64}$/;
const TEES = ['sev-snp', 'tdx', 'simulated'];

function fail(field: string, problem: string): never {
  throw new UsageError(`${field}: ${problem}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function int(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(field, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') fail(field, `is required (a non-empty string)`);
  return v;
}

/** Checks what the CRD schema checks that placement depends on, naming the first bad field. */
export function validatePool(doc: unknown): InferencePool {
  if (!isObject(doc)) fail('manifest', 'is not a YAML/JSON object');
  if (doc.kind !== 'InferencePool') fail('kind', `must be InferencePool, got ${JSON.stringify(doc.kind)}`);
  if (doc.apiVersion !== 'chrysalis.dev/v1alpha1') fail('apiVersion', `must be chrysalis.dev/v1alpha1, got ${JSON.stringify(doc.apiVersion)}`);
  if (!isObject(doc.metadata)) fail('metadata', 'is required');
  str(doc.metadata.name, 'metadata.name');
  const spec = doc.spec;
  if (!isObject(spec)) fail('spec', 'is required');
  if (!isObject(spec.model)) fail('spec.model', 'is required');
  str(spec.model.name, 'spec.model.name');
  const source = str(spec.model.source, 'spec.model.source');
  try {
    parseModelSource(source);
  } catch (err) {
    if (!(err instanceof ModelSourceError)) throw err;
    throw new UsageError(err.message);
  }
  if (!HEX64.test(str(spec.model.hash, 'spec.model.hash'))) fail('spec.model.hash', 'must be 64 lowercase hex characters (SHA-256)');
  if (!isObject(spec.runtime)) fail('spec.runtime', 'is required');
  if (!/@sha256:[0-9a-f]{64}$/.test(str(spec.runtime.image, 'spec.runtime.image'))) fail('spec.runtime.image', 'must be pinned by digest (image@sha256:<64 hex>)');
  if (!isObject(spec.replicas)) fail('spec.replicas', 'is required ({min, max})');
  const min = int(spec.replicas.min, 'spec.replicas.min', 0);
  const max = int(spec.replicas.max, 'spec.replicas.max', 0);
  if (min > max) fail('spec.replicas', `min (${min}) must not exceed max (${max})`);
  if (spec.gpusPerReplica !== undefined) int(spec.gpusPerReplica, 'spec.gpusPerReplica', 1);
  if (spec.gpuModels !== undefined && (!Array.isArray(spec.gpuModels) || spec.gpuModels.some((m) => typeof m !== 'string' || m === ''))) fail('spec.gpuModels', 'must be a list of GPU model names, e.g. [H100, H200]');
  if (spec.tee !== undefined) {
    if (!isObject(spec.tee)) fail('spec.tee', 'must be an object {types, gpuCCRequired}');
    if (spec.tee.types !== undefined) {
      if (!Array.isArray(spec.tee.types) || spec.tee.types.length === 0) fail('spec.tee.types', `must be a non-empty list of ${TEES.join(', ')}`);
      spec.tee.types.forEach((v, i) => { if (!TEES.includes(v as string)) fail(`spec.tee.types[${i}]`, `must be one of ${TEES.join(', ')}, got ${JSON.stringify(v)}`); });
    }
  }
  if (spec.placement !== undefined) {
    if (!isObject(spec.placement)) fail('spec.placement', 'must be an object');
    if (spec.placement.maxPerNode !== undefined) int(spec.placement.maxPerNode, 'spec.placement.maxPerNode', 1);
  }
  if (spec.maxPriceCoefficient !== undefined) int(spec.maxPriceCoefficient, 'spec.maxPriceCoefficient', 1);
  if (!isObject(spec.settlementAccountRef)) fail('spec.settlementAccountRef', 'is required ({name})');
  str(spec.settlementAccountRef.name, 'spec.settlementAccountRef.name');
  return doc as unknown as InferencePool;
}

function readManifest(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`-f ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? 'error'})`}`);
  }
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  if (docs.length !== 1) throw new UsageError(`-f ${file}: expected one InferencePool document, found ${docs.length}`);
  const doc = docs[0]!;
  if (doc.errors.length) throw new UsageError(`-f ${file}: not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`);
  return doc.toJS();
}

interface PlanFlags {
  filename: string;
  output: OutputFormat;
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .summary('dry-run placement of an InferencePool manifest against the live fleet')
    .description('Dry-run placement: where the replicas of an InferencePool manifest would land on the live fleet\n(ProviderNodes, Nodes, Pods), or why not. Writes nothing.\nExit 0: every replica would be placed; 1: some would not (reasons printed);\n2: the manifest is invalid (the field is named) or the cluster cannot be used.')
    .requiredOption('-f, --filename <file>', 'InferencePool manifest (YAML or JSON; - for stdin)')
    .addOption(new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
    .action(async (flags: PlanFlags, command: Command) => {
      const pool = validatePool(readManifest(flags.filename));
      const cluster = connect(command);
      pool.metadata.namespace ??= cluster.namespace;
      try {
        const [providerNodes, nodes, pods] = await Promise.all([
          cluster.list<ProviderNode>(ProviderNodes),
          cluster.list<KubeObject>(Nodes),
          cluster.list<KubeObject>(Pods, { namespace: null, fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }),
        ]);
        const fleet = fleetNodesFromObjects({ providerNodes, nodes, pods, gpuResourceName: DEFAULT_CONFIG.gpuResourceName });
        const result = planPoolDryRun(fleet, pool);
        const placeable = result.unplaced.length === 0;
        if (flags.output !== 'table') {
          process.stdout.write(formatData({ pool: `${pool.metadata.namespace}/${pool.metadata.name}`, placeable, placements: result.placements, unplaced: result.unplaced }, flags.output));
        } else {
          const byName = new Map(fleet.map((n) => [n.name, n]));
          let out = `${result.explanation[0]}\n`;
          if (result.placements.length) {
            out += `\n${renderTable(['replica', 'node', 'gpus', 'tee', 'gpu model', 'provider'], result.placements.map((p) => {
              const n = byName.get(p.node);
              return [p.replicaId, p.node, String(p.gpus), n?.tee ?? '', n?.gpuModel ?? '', n?.provider ?? ''];
            }))}`;
          }
          if (result.unplaced.length) {
            out += `\n${renderTable(['replica', 'gpus', 'reason', 'why'], result.unplaced.map((u) => [u.replicaId, String(u.gpus), colour.red(u.reason), u.message]))}`;
          }
          out += `\n${placeable ? colour.green('All replicas would be placed.') : colour.red(`${result.unplaced.length} replica(s) would not be placed.`)}\n`;
          process.stdout.write(out);
        }
        process.exitCode = placeable ? 0 : 1;
      } finally {
        cluster.close();
      }
    });
}
