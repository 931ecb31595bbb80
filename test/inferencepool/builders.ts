// Builders shared by the InferencePool tests: a pool object, and replica observations for plan tables.
import type { InferencePool } from '../../operator/src/api/index.js';
import type { ReplicaObservation } from '../../operator/src/controllers/inferencepool/plan.js';
import { replicaTemplateHash } from '../../operator/src/controllers/inferencepool/template-hash.js';

export const MODEL_HASH = 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6';
export const IMAGE = 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f';

export function poolSpec(replicas: number, overrides: Partial<InferencePool['spec']> = {}): InferencePool['spec'] {
  return {
    model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'pvc://models/llama-3.1-8b-instruct', hash: MODEL_HASH },
    runtime: { image: IMAGE, args: ['--tensor-parallel-size=1'], port: 8000 },
    replicas: { min: replicas, max: replicas },
    gpusPerReplica: 1,
    gpuModels: ['H100'],
    tee: { types: ['sev-snp', 'tdx'], gpuCCRequired: true },
    placement: { spreadAcrossProviders: true },
    settlementAccountRef: { name: 'sandbox' },
    ...overrides,
  };
}

export function pool(name: string, replicas: number, overrides: Partial<InferencePool['spec']> = {}, namespace = 'team'): InferencePool {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1',
    kind: 'InferencePool',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 3 },
    spec: poolSpec(replicas, overrides),
  };
}

/** The template hash of pool()'s replicas: spec.model, spec.runtime and gpusPerReplica as poolSpec() has them. */
export const TEMPLATE_HASH = replicaTemplateHash(pool('llama', 1));

/** A bound, attested (until `expires`), ready replica built for pool()'s spec unless overridden. */
export function replica(index: number, overrides: Partial<ReplicaObservation> = {}, poolName = 'llama'): ReplicaObservation {
  return {
    name: `${poolName}-${index}`,
    uid: `pod-uid-${index}`,
    index,
    node: `node-${index}`,
    tee: 'sev-snp',
    phase: 'Running',
    terminating: false,
    gate: 'True',
    gateSince: new Date('2025-01-01T00:00:00Z'),
    attestationExpires: new Date('2025-01-01T02:00:00Z'),
    podReady: true,
    templateHash: TEMPLATE_HASH,
    ...overrides,
  };
}

export const NOW = new Date('2025-01-01T01:00:00Z');
