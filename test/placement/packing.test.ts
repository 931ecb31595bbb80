// Tight packing: best fit inside a batch placed largest first, and zero stranded GPUs wherever a perfect
// packing exists (homogeneous 8-GPU nodes, replicas of 1, 2, 4 and 8 GPUs).
import test from 'ava';
import fc from 'fast-check';
import { FleetIndex, measureStranding, planPlacements } from '../../operator/src/placement/index.js';
import type { NodeCapacity, ReplicaRequest } from '../../operator/src/placement/index.js';
import { homogeneousFleet, node, replicasOf, request, shuffled } from './builders.js';

interface FitCase {
  title: string;
  fleet: NodeCapacity[];
  replicas: ReplicaRequest[];
  expectedNodes: string[];
}

const fitCases: FitCase[] = [
  {
    title: 'Two 4-GPU replicas share one 8-GPU node instead of half-filling two',
    fleet: [node('a'), node('b')],
    replicas: replicasOf('team/x', 2, { gpus: 4 }),
    expectedNodes: ['a', 'a'],
  },
  {
    title: 'A replica takes an exact-fit hole before an idle node',
    fleet: [node('a'), node('b', { gpuFree: 2 })],
    replicas: [request('r', { gpus: 2 })],
    expectedNodes: ['b'],
  },
  {
    title: 'The smallest hole that fits wins over larger holes',
    fleet: [node('a', { gpuFree: 6 }), node('b', { gpuFree: 3 }), node('c'), node('d', { gpuFree: 2 })],
    replicas: [request('r', { gpus: 3 })],
    expectedNodes: ['b'],
  },
  {
    title: 'Equally good nodes are chosen by name whatever order the fleet was listed in',
    fleet: [node('zeta'), node('alpha'), node('mid')],
    replicas: [request('r', { gpus: 8 })],
    expectedNodes: ['alpha'],
  },
  {
    title: 'An 8-GPU replica listed after eight 1-GPU replicas is still placed because larger go first',
    fleet: [node('a'), node('b')],
    replicas: [...replicasOf('team/small', 8, { gpus: 1 }), request('big', { pool: 'team/big', gpus: 8 })],
    expectedNodes: ['a', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b'],
  },
  {
    title: 'Without spreading, one pool packs onto as few nodes as possible even across providers',
    fleet: [node('a', { provider: 'p1' }), node('b', { provider: 'p2' })],
    replicas: replicasOf('team/x', 4, { gpus: 2 }),
    expectedNodes: ['a', 'a', 'a', 'a'],
  },
];

for (const c of fitCases) {
  test(c.title, (t) => {
    const plan = planPlacements(new FleetIndex(c.fleet), [], c.replicas);
    t.deepEqual(plan.unplaced, []);
    t.deepEqual(plan.placements.map((p) => p.node), c.expectedNodes);
  });
}

/**
 * Replicas that exactly fill `nodes` 8-GPU nodes: each node's 8 GPUs are cut into pieces of 8, 4, 2 or
 * 1 and every piece becomes a replica of some pool. So a perfect packing exists by construction.
 */
function perfectlyFittingReplicas(nodes: number, pools: number, seed: number, spread: boolean): ReplicaRequest[] {
  const cuts = fc.sample(
    fc.array(fc.constantFrom<number[]>([8], [4, 4], [4, 2, 2], [4, 2, 1, 1], [2, 2, 2, 2], [2, 2, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]), {
      minLength: nodes,
      maxLength: nodes,
    }),
    { seed, numRuns: 1 },
  )[0] as number[][];
  const sizes = cuts.flat();
  return shuffled(
    sizes.map((gpus, i) =>
      request(`r${i}`, { pool: `team/pool-${i % pools}`, gpus, spreadAcrossProviders: spread }),
    ),
    seed,
  );
}

for (const { nodes, providers, spread, seed } of [
  { nodes: 2000, providers: 1, spread: false, seed: 1 },
  { nodes: 2000, providers: 7, spread: true, seed: 2 },
  { nodes: 500, providers: 50, spread: true, seed: 3 },
  { nodes: 64, providers: 3, spread: false, seed: 4 },
]) {
  test(`${nodes} nodes × 8 GPUs over ${providers} providers filled exactly by mixed replicas in random order strand no GPU (spread ${spread})`, (t) => {
    const replicas = perfectlyFittingReplicas(nodes, 1000, seed, spread);
    const index = new FleetIndex(homogeneousFleet(nodes, providers));
    const plan = planPlacements(index, [], replicas);
    t.is(plan.unplaced.length, 0, plan.unplaced[0]?.message);
    t.is(plan.placements.length, replicas.length);
    const report = measureStranding(index.nodes());
    t.is(report.freeGpus, 0);
    t.is(report.strandedGpus, 0);
  });
}

test('Any fleet of 8-GPU nodes exactly filled by 1/2/4/8-GPU replicas of many pools is packed with nothing left', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 10 }),
      fc.boolean(),
      fc.integer(),
      (nodes, providers, pools, spread, seed) => {
        const replicas = perfectlyFittingReplicas(nodes, pools, seed, spread);
        const index = new FleetIndex(homogeneousFleet(nodes, providers));
        const plan = planPlacements(index, [], replicas);
        return plan.unplaced.length === 0 && measureStranding(index.nodes()).freeGpus === 0;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('When demand is below capacity, leftover GPUs stay on whole idle nodes where sizes allow', (t) => {
  // 6 nodes = 48 GPUs; demand 8 + 4 + 4 + 2 + 2 + 1 + 1 + 1 + 1 = 24 fills exactly three nodes.
  const sizes = [1, 4, 2, 1, 8, 1, 4, 2, 1];
  const replicas = sizes.map((gpus, i) => request(`r${i}`, { pool: `team/p${i % 3}`, gpus }));
  const index = new FleetIndex(homogeneousFleet(6, 2));
  const plan = planPlacements(index, [], replicas);
  t.is(plan.unplaced.length, 0);
  const report = measureStranding(index.nodes());
  t.is(report.strandedGpus, 0);
  t.is(report.idleNodes, 3);
});
