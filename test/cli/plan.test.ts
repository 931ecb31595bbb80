// `chrysalis plan -f pool.yaml` against the live fleet: kwok GPU Nodes with attested ProviderNodes of a
// GPU model only this test uses, so other tests' nodes never take part.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Nodes, resourcePath } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster } from '../cluster/index.js';
import { attestedStatus, createProviderNode, POOL_SPEC, runCli, RUN_LABEL, uniqueRun } from './helpers.js';

test('plan prints where replicas would land (exit 0), why some would not (exit 1), and names a bad field (exit 2)', async (t) => {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const run = uniqueRun();
  const model = `T${run}`;
  const nodeName = `cli-plan-${run}`;
  const rest = new RestClient(kc);
  await rest.request('POST', resourcePath(Nodes), { body: {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: nodeName, labels: { type: 'kwok', [RUN_LABEL]: run } },
    status: { capacity: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' }, allocatable: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' } },
  } });
  t.teardown(() => new RestClient(kc).request('DELETE', resourcePath(Nodes, undefined, nodeName)).then(() => undefined, () => undefined));
  rest.close();
  await createProviderNode(t, kc, nodeName, run, { gpus: { model, count: 8 } }, attestedStatus());

  const dir = mkdtempSync(join(tmpdir(), 'cli-plan-'));
  const write = (name: string, doc: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
    return path;
  };
  const pool = (replicas: number, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name: 'planned', namespace: 'team' },
    spec: { ...POOL_SPEC, replicas: { min: replicas, max: replicas }, gpusPerReplica: 4, gpuModels: [model], ...extra },
  });
  const env = { KUBECONFIG: cluster.kubeconfigPath };

  const fits = await runCli(['plan', '-f', write('fits.yaml', pool(2))], env);
  t.is(fits.code, 0, fits.stdout + fits.stderr);
  t.regex(fits.stdout, /^team\/planned: 2 of 2 replicas placed \(4 GPUs each\)/);
  t.regex(fits.stdout, new RegExp(`planned-0\\s+${nodeName}\\s+4\\s+sev-snp\\s+${model}`));
  t.regex(fits.stdout, /All replicas would be placed\.\n$/);

  const tooMany = await runCli(['plan', '-f', write('big.yaml', pool(3)), '-o', 'json'], env);
  t.is(tooMany.code, 1, tooMany.stdout + tooMany.stderr);
  const result = JSON.parse(tooMany.stdout) as { placeable: boolean; placements: unknown[]; unplaced: Array<{ reason: string }> };
  t.false(result.placeable);
  t.is(result.placements.length, 2);
  t.is(result.unplaced[0]!.reason, 'InsufficientGpus');

  const wrongTee = await runCli(['plan', '-f', write('tee.yaml', pool(1, { tee: { types: ['tdx'] } }))], env);
  t.is(wrongTee.code, 1);
  t.regex(wrongTee.stdout, /TeeUnavailable/);

  const bad = await runCli(['plan', '-f', write('bad.yaml', pool(1, { runtime: { image: 'vllm/vllm-openai:latest' } }))], env);
  t.is(bad.code, 2);
  t.is(bad.stderr, 'error: spec.runtime.image: must be pinned by digest (image@sha256:<64 hex>)\n');
  const badTee = await runCli(['plan', '-f', write('bad2.yaml', pool(1, { tee: { types: ['sgx'] } }))], env);
  t.is(badTee.stderr, 'error: spec.tee.types[0]: must be one of sev-snp, tdx, simulated, got "sgx"\n');
  const missing = await runCli(['plan', '-f', join(dir, 'nope.yaml')], env);
  t.is(missing.code, 2);
  t.is(missing.stderr, `error: -f ${join(dir, 'nope.yaml')}: no such file\n`);
  const notYaml = await runCli(['plan', '-f', write('x.yaml', 'a: [1, 2\n')], env);
  t.is(notYaml.code, 2);
  t.regex(notYaml.stderr, /^error: -f .*x\.yaml: not valid YAML/);
});
