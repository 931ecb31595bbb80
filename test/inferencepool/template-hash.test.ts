// The template hash: what a replica was built from. Each field of spec.model and spec.runtime, and
// spec.gpusPerReplica, changes it; nothing else of the pool does, and neither does where the replica is
// placed; the CRD's defaults give the same value spelled out or left out.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { replicaTemplateHash } from '../../operator/src/controllers/inferencepool/template-hash.js';
import { LABEL_TEMPLATE_HASH } from '../../operator/src/marks.js';
import { pool } from './builders.js';

type Spec = InferencePool['spec'];
const base = pool('llama', 2);
const withSpec = (change: (spec: Spec) => Spec): InferencePool => ({ ...base, spec: change(structuredClone(base.spec)) });

// One change per field the replica is built from; the CRD parity test below checks this list is complete.
const changes: Record<string, (spec: Spec) => Spec> = {
  'model.name': (s) => ({ ...s, model: { ...s.model, name: 'other/model' } }),
  'model.source': (s) => ({ ...s, model: { ...s.model, source: 'pvc://models/other' } }),
  'model.hash': (s) => ({ ...s, model: { ...s.model, hash: 'f'.repeat(64) } }),
  'model.revision': (s) => ({ ...s, model: { ...s.model, revision: 'abc123' } }),
  'model.file': (s) => ({ ...s, model: { ...s.model, file: 'model.gguf' } }),
  'runtime.server': (s) => ({ ...s, runtime: { ...s.runtime, server: 'llama-cpp' } }),
  'runtime.image': (s) => ({ ...s, runtime: { ...s.runtime, image: `registry.example/vllm@sha256:${'1'.repeat(64)}` } }),
  'runtime.args': (s) => ({ ...s, runtime: { ...s.runtime, args: ['--max-model-len=4096'] } }),
  'runtime.port': (s) => ({ ...s, runtime: { ...s.runtime, port: 9000 } }),
  'runtime.env': (s) => ({ ...s, runtime: { ...s.runtime, env: [{ name: 'A', value: '1' }] } }),
  gpusPerReplica: (s) => ({ ...s, gpusPerReplica: 2 }),
};

test('the hash is 16 lowercase hex characters, the same for the same spec, and is the label on every built replica', (t) => {
  const hash = replicaTemplateHash(base);
  t.regex(hash, /^[0-9a-f]{16}$/);
  t.is(replicaTemplateHash(pool('llama', 2)), hash);
  const labelOf = (p: ReturnType<typeof buildReplicaPod>) => p.metadata?.labels?.[LABEL_TEMPLATE_HASH];
  t.is(labelOf(buildReplicaPod({ pool: base, index: 0, tee: 'sev-snp', node: 'a', config: DEFAULT_CONFIG })), hash);
  // Node, TEE and topology change the Pod, not what it serves.
  t.is(labelOf(buildReplicaPod({ pool: base, index: 7, tee: 'tdx', topology: 'pod-cvm', node: 'b', config: DEFAULT_CONFIG })), hash);
  t.is(labelOf(buildReplicaPod({ pool: base, index: 1, tee: 'sev-snp', config: { ...DEFAULT_CONFIG, attesterImage: 'other@sha256:' + '2'.repeat(64) } })), hash);
});

for (const [field, change] of Object.entries(changes)) {
  test(`a change of spec.${field} changes the hash`, (t) => {
    t.not(replicaTemplateHash(withSpec(change)), replicaTemplateHash(base));
  });
}

test('the order of spec.runtime.env counts (a later variable may refer to an earlier one); an empty value equals an omitted one', (t) => {
  const env = (list: Array<{ name: string; value?: string }>) => replicaTemplateHash(withSpec((s) => ({ ...s, runtime: { ...s.runtime, env: list } })));
  t.not(env([{ name: 'A', value: '1' }, { name: 'B', value: '2' }]), env([{ name: 'B', value: '2' }, { name: 'A', value: '1' }]));
  t.is(env([{ name: 'A' }]), env([{ name: 'A', value: '' }]));
});

test('the CRD defaults give the same hash left out or spelled out', (t) => {
  const bare = withSpec((s) => {
    const { gpusPerReplica: _g, ...rest } = s;
    return { ...rest, model: { name: s.model.name, source: s.model.source, hash: s.model.hash }, runtime: { image: s.runtime.image } };
  });
  const spelled = withSpec((s) => ({ ...s, gpusPerReplica: 1, model: { name: s.model.name, source: s.model.source, hash: s.model.hash, revision: '' }, runtime: { image: s.runtime.image, server: 'vllm', port: 8000, args: [], env: [] } }));
  t.is(replicaTemplateHash(bare), replicaTemplateHash(spelled));
});

test('what the replica is not built from leaves the hash alone: size, placement, GPU models, TEE, price, account', (t) => {
  const others: Array<(s: Spec) => Spec> = [
    (s) => ({ ...s, replicas: { min: 1, max: 9 } }),
    (s) => ({ ...s, placement: { spreadAcrossProviders: false, maxPerNode: 1 } }),
    (s) => ({ ...s, gpuModels: ['H200'] }),
    (s) => ({ ...s, tee: { types: ['tdx'], gpuCCRequired: true } }),
    (s) => ({ ...s, maxPriceCoefficient: 2000 }),
    (s) => ({ ...s, settlementAccountRef: { name: 'other' } }),
  ];
  for (const change of others) t.is(replicaTemplateHash(withSpec(change)), replicaTemplateHash(base));
});

test('every field of spec.model and spec.runtime in the CRD, and spec.gpusPerReplica, is one the hash covers', (t) => {
  // A field added to the CRD must be added to replicaTemplate (or this list, with the reason it does not
  // change what a replica serves); otherwise changing it would leave replicas of the old spec running.
  const crd = parse(readFileSync(new URL('../../crds/chrysalis.dev_inferencepools.yaml', import.meta.url), 'utf8'));
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties;
  const fields = [
    ...Object.keys(spec.model.properties).map((f) => `model.${f}`),
    ...Object.keys(spec.runtime.properties).map((f) => `runtime.${f}`),
    'gpusPerReplica',
  ].sort();
  t.deepEqual(fields, Object.keys(changes).sort());
});
