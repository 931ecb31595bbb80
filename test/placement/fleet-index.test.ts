// The fleet index is updated in place: node changes, allocations and releases touch only that node's
// bucket entries, and a search looks at a handful of entries however large the fleet is.
import test from 'ava';
import { FleetIndex, planPlacements } from '../../operator/src/placement/index.js';
import type { NodeCapacity } from '../../operator/src/placement/index.js';
import { homogeneousFleet, node, replicasOf, request } from './builders.js';

test('Updating one node moves only that node between buckets and the next plan sees the change', (t) => {
  const index = new FleetIndex(homogeneousFleet(2000, 20));
  const before = index.stats.bucketUpdates;
  index.upsertNode(node('node-1234', { provider: 'provider-14', gpuFree: 4 }));
  t.is(index.stats.bucketUpdates - before, 2); // out of the 8-free bucket, into the 4-free bucket
  t.is(planPlacements(index, [], [request('r', { gpus: 4 })]).placements[0]?.node, 'node-1234');
  t.deepEqual(index.inconsistencies(), []);
});

test('Removing a node takes it out of every search and leaves the rest intact', (t) => {
  const index = new FleetIndex([node('a', { gpuFree: 1 }), node('b')]);
  t.true(index.removeNode('a'));
  t.false(index.removeNode('a'));
  t.is(index.size, 1);
  t.is(planPlacements(index, [], [request('r')]).placements[0]?.node, 'b');
  t.deepEqual(index.inconsistencies(), []);
});

test('Freeing GPUs makes the node the best fit again without a rebuild', (t) => {
  const index = new FleetIndex([node('a'), node('b')]);
  planPlacements(index, [], [request('big', { gpus: 8 })]); // fills a
  t.is(index.node('a')?.gpuFree, 0);
  const before = index.stats.bucketUpdates;
  index.release('a', 3);
  t.is(index.stats.bucketUpdates - before, 1);
  t.is(planPlacements(index, [], [request('r', { gpus: 3 })]).placements[0]?.node, 'a');
});

test('Allocation refuses to over-commit and release refuses to exceed the node’s total', (t) => {
  const index = new FleetIndex([node('a', { gpuFree: 2 })]);
  t.throws(() => index.allocate('a', 3), { message: /has 2 GPUs free, cannot take 3/ });
  t.throws(() => index.allocate('missing', 1), { message: /not in the fleet index/ });
  t.throws(() => index.release('a', 7), { message: /cannot free 7 more/ });
  t.notThrows(() => index.release('gone', 1)); // the node left with its GPUs
  t.is(index.node('a')?.gpuFree, 2);
});

test('A node that stops being schedulable leaves the buckets but stays known', (t) => {
  const index = new FleetIndex([node('a')]);
  index.upsertNode(node('a', { cordoned: true }));
  t.is(index.size, 1);
  t.is(index.schedulableCount, 0);
  t.deepEqual(index.unschedulable, { notAttested: 0, quarantined: 0, cordoned: 1 });
  t.deepEqual([...index.groups()], []);
  t.deepEqual(index.inconsistencies(), []);
});

test('Changing a node’s provider, model or price regroups it', (t) => {
  const index = new FleetIndex([node('a', { provider: 'p1' })]);
  index.upsertNode(node('a', { provider: 'p2', gpuModel: 'H200', priceCoefficient: 900 }));
  const plan = planPlacements(index, [], [request('r', { gpuModels: ['H200'], maxPriceCoefficient: 900 })]);
  t.is(plan.placements[0]?.node, 'a');
  t.is([...index.groups()].length, 1);
  t.deepEqual(index.inconsistencies(), []);
});

for (const fleetSize of [100, 2000, 10000]) {
  test(`Placing 100 replicas into ${fleetSize} nodes visits a bounded number of entries, not the fleet per replica`, (t) => {
    const index = new FleetIndex(homogeneousFleet(fleetSize, 10));
    const replicas = Array.from({ length: 10 }, (_, p) =>
      replicasOf(`team/pool-${p}`, 10, { gpus: 1 + (p % 4), spreadAcrossProviders: p % 2 === 0 }),
    ).flat();
    const plan = planPlacements(index, [], replicas);
    t.is(plan.placements.length, 100);
    const perReplica = index.stats.entriesVisited / 100;
    t.log(`${fleetSize} nodes: ${perReplica.toFixed(1)} entries visited per replica`);
    // A scan would visit ≥ fleetSize per replica; the bound depends on pool size and bucket count only.
    t.true(perReplica < 60, `visited ${perReplica} per replica`);
  });
}

test('Visits per replica do not grow with the fleet', (t) => {
  const visitsFor = (fleetSize: number): number => {
    const index = new FleetIndex(homogeneousFleet(fleetSize, 10));
    planPlacements(index, [], replicasOf('team/x', 50, { gpus: 2, spreadAcrossProviders: true }));
    return index.stats.entriesVisited;
  };
  t.is(visitsFor(20000), visitsFor(200));
});

test('Allocations made by a plan are visible to the next plan', (t) => {
  const index = new FleetIndex([node('a'), node('b')]);
  planPlacements(index, [], replicasOf('team/x', 3, { gpus: 2 }));
  t.deepEqual([...index.nodes()].map((n: NodeCapacity) => [n.name, n.gpuFree]), [['a', 2], ['b', 8]]);
  const next = planPlacements(index, [], [request('y', { pool: 'team/y', gpus: 2 })]);
  t.is(next.placements[0]?.node, 'a');
});
