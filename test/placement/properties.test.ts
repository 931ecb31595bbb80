// Properties over random fleets and requests: every placement obeys every constraint, GPU accounting
// never goes negative or over-commits, the plan is a function of its input alone, and a replica is
// only reported unplaced when no node could have taken it.
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { FleetIndex, planPlacements } from '../../operator/src/placement/index.js';
import type { NodeCapacity, Placement, ReplicaRequest, TeeType } from '../../operator/src/placement/index.js';

const tees: TeeType[] = ['sev-snp', 'tdx', 'simulated'];
const models = ['H100', 'A100'];

const nodeArb = fc
  .record({
    provider: fc.constantFrom('p0', 'p1', 'p2', 'p3'),
    tee: fc.constantFrom(...tees),
    gpuModel: fc.constantFrom(...models),
    gpuTotal: fc.constantFrom(1, 2, 4, 8),
    freeShare: fc.double({ min: 0, max: 1, noNaN: true }),
    priceCoefficient: fc.constantFrom(800, 1000, 1200),
    // Mostly usable nodes, so that plans place something, with every kind of unusable one mixed in.
    attested: fc.constantFrom(true, true, false),
    quarantined: fc.constantFrom(false, false, true),
    cordoned: fc.constantFrom(false, false, true),
  })
  .map(({ freeShare, ...rest }) => ({ ...rest, gpuFree: Math.round(freeShare * rest.gpuTotal) }));

const fleetArb = fc
  .array(nodeArb, { maxLength: 30 })
  .map((nodes) => nodes.map((n, i): NodeCapacity => ({ name: `n${String(i).padStart(2, '0')}`, ...n })));

const poolArb = fc.record({
  gpus: fc.constantFrom(1, 2, 3, 4, 8),
  gpuModels: fc.subarray(models, { minLength: 1 }),
  teeTypes: fc.subarray(tees, { minLength: 1 }),
  maxPriceCoefficient: fc.constantFrom(800, 1000, 1200, 1200),
  spreadAcrossProviders: fc.boolean(),
  maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
});

const scenarioArb = fc
  .record({
    fleet: fleetArb,
    pools: fc.array(poolArb, { minLength: 1, maxLength: 5 }),
    replicaPools: fc.array(fc.nat(), { maxLength: 60 }),
    existingPairs: fc.uniqueArray(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10, selector: ([p, n]) => `${p % 5}/${n % 30}` }),
  })
  .map(({ fleet, pools, replicaPools, existingPairs }) => {
    const poolName = (i: number): string => `ns/pool-${i % pools.length}`;
    const requests: ReplicaRequest[] = replicaPools.map((p, i) => {
      const { maxPerNode, ...spec } = pools[p % pools.length] as (typeof pools)[number];
      return { pool: poolName(p), replicaId: `r${i}`, ...spec, ...(maxPerNode === undefined ? {} : { maxPerNode }) };
    });
    const existing: Placement[] =
      fleet.length === 0
        ? []
        : existingPairs.map(([p, n], i) => ({ pool: poolName(p), replicaId: `old${i}`, node: (fleet[n % fleet.length] as NodeCapacity).name, gpus: 1 }));
    return { fleet, requests, existing };
  });

/** Written out here, not imported from the engine, so a mistake there cannot hide in the check. */
function fits(node: NodeCapacity, r: ReplicaRequest): boolean {
  return (
    node.attested &&
    !node.quarantined &&
    !node.cordoned &&
    r.gpuModels.includes(node.gpuModel) &&
    r.teeTypes.includes(node.tee) &&
    node.priceCoefficient <= r.maxPriceCoefficient
  );
}

function replicasOn(placements: readonly Placement[], pool: string, node: string): number {
  return placements.filter((p) => p.pool === pool && p.node === node).length;
}

test('Every placement lands on a schedulable node that meets the replica’s model, TEE, price and size', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ fleet, requests, existing }) => {
      const before = new Map(fleet.map((n) => [n.name, n]));
      const plan = planPlacements(new FleetIndex(fleet), existing, requests);
      const byId = new Map(requests.map((r) => [r.replicaId, r]));
      for (const p of plan.placements) {
        const node = before.get(p.node) as NodeCapacity;
        const r = byId.get(p.replicaId) as ReplicaRequest;
        if (!fits(node, r) || p.gpus !== r.gpus || node.gpuFree < r.gpus) return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('GPU accounting never goes negative and no node is over-committed', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ fleet, requests, existing }) => {
      const index = new FleetIndex(fleet);
      const plan = planPlacements(index, existing, requests);
      if (index.inconsistencies().length > 0) return false;
      for (const original of fleet) {
        const taken = plan.placements.filter((p) => p.node === original.name).reduce((s, p) => s + p.gpus, 0);
        const now = index.node(original.name) as NodeCapacity;
        if (taken > original.gpuFree || now.gpuFree !== original.gpuFree - taken || now.gpuFree < 0) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('maxPerNode is never exceeded by new placements, counting existing replicas of the pool', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ fleet, requests, existing }) => {
      const plan = planPlacements(new FleetIndex(fleet), existing, requests);
      const all = [...existing, ...plan.placements];
      const byId = new Map(requests.map((r) => [r.replicaId, r]));
      return plan.placements.every((p) => {
        const limit = byId.get(p.replicaId)?.maxPerNode;
        return limit === undefined || replicasOn(all, p.pool, p.node) <= limit;
      });
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('Every replica is either placed or reported unplaced, exactly once', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ fleet, requests, existing }) => {
      const plan = planPlacements(new FleetIndex(fleet), existing, requests);
      const ids = [...plan.placements.map((p) => p.replicaId), ...plan.unplaced.map((u) => u.replicaId)].sort();
      return JSON.stringify(ids) === JSON.stringify(requests.map((r) => r.replicaId).sort());
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('The same fleet and requests give the same plan whatever order either was listed in', (t) => {
  fc.assert(
    fc.property(scenarioArb, fc.integer(), ({ fleet, requests, existing }, seed) => {
      const first = planPlacements(new FleetIndex(fleet), existing, requests);
      const again = planPlacements(new FleetIndex(fleet), existing, requests);
      const permute = <T>(xs: readonly T[]): T[] =>
        fc.sample(fc.shuffledSubarray([...xs], { minLength: xs.length, maxLength: xs.length }), { seed, numRuns: 1 })[0] as T[];
      const reordered = planPlacements(new FleetIndex(permute(fleet)), permute(existing), permute(requests));
      return isDeepStrictEqual(again, first) && isDeepStrictEqual(reordered, first);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('A replica is reported unplaced only when no node could have taken it after the plan', (t) => {
  fc.assert(
    fc.property(scenarioArb, ({ fleet, requests, existing }) => {
      const index = new FleetIndex(fleet);
      const plan = planPlacements(index, existing, requests);
      const all = [...existing, ...plan.placements];
      const byId = new Map(requests.map((r) => [r.replicaId, r]));
      return plan.unplaced.every((u) => {
        const r = byId.get(u.replicaId) as ReplicaRequest;
        return [...index.nodes()].every(
          (n) =>
            !fits(n, r) ||
            n.gpuFree < r.gpus ||
            (r.maxPerNode !== undefined && replicasOn(all, r.pool, n.name) >= r.maxPerNode),
        );
      });
    }),
    { numRuns: 300 },
  );
  t.pass();
});
