// Small builders for placement tests: a node or a request with sensible defaults, overridden per case.
import fc from 'fast-check';
import type { NodeCapacity, ReplicaRequest } from '../../operator/src/placement/index.js';

export function node(name: string, overrides: Partial<NodeCapacity> = {}): NodeCapacity {
  const gpuTotal = overrides.gpuTotal ?? 8;
  return {
    name,
    provider: 'provider-a',
    tee: 'sev-snp',
    gpuModel: 'H100',
    gpuTotal,
    gpuFree: gpuTotal,
    priceCoefficient: 1000,
    attested: true,
    quarantined: false,
    cordoned: false,
    ...overrides,
  };
}

export function request(replicaId: string, overrides: Partial<ReplicaRequest> = {}): ReplicaRequest {
  return {
    pool: 'team/llama',
    replicaId,
    gpus: 1,
    gpuModels: ['H100'],
    teeTypes: ['sev-snp', 'tdx'],
    maxPriceCoefficient: 1000,
    spreadAcrossProviders: false,
    ...overrides,
  };
}

/** `count` idle 8-GPU nodes named node-0000…, dealt round-robin to `providers` providers. */
export function homogeneousFleet(count: number, providers = 1, gpuTotal = 8): NodeCapacity[] {
  return Array.from({ length: count }, (_, i) =>
    node(`node-${String(i).padStart(4, '0')}`, { provider: `provider-${i % providers}`, gpuTotal }),
  );
}

/** `count` replicas of one pool, ids `<pool>-r<i>`. */
export function replicasOf(pool: string, count: number, overrides: Partial<ReplicaRequest> = {}): ReplicaRequest[] {
  return Array.from({ length: count }, (_, i) => request(`${pool}-r${i}`, { pool, ...overrides }));
}

/** The items in an order fixed by `seed` (fast-check's seeded generator), for repeatable "random order". */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const all = fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length });
  return fc.sample(all, { seed, numRuns: 1 })[0] as T[];
}
