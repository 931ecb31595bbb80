// Spreading one pool's replicas across providers, and the hard maxPerNode limit.
import test from 'ava';
import { FleetIndex, planPlacements } from '../../operator/src/placement/index.js';
import type { NodeCapacity } from '../../operator/src/placement/index.js';
import { homogeneousFleet, node, replicasOf, request } from './builders.js';

function providersOf(index: FleetIndex, nodes: readonly string[]): string[] {
  return nodes.map((n) => (index.node(n) as NodeCapacity).provider);
}

test('Eight replicas of one pool over 50 nodes from ten providers land on eight distinct providers', (t) => {
  const index = new FleetIndex(homogeneousFleet(50, 10));
  const plan = planPlacements(index, [], replicasOf('team/llama', 8, { gpus: 2, spreadAcrossProviders: true }));
  t.is(plan.placements.length, 8);
  t.is(new Set(providersOf(index, plan.placements.map((p) => p.node))).size, 8);
});

test('With fewer providers than replicas, each provider gets as even a share as possible', (t) => {
  const index = new FleetIndex(homogeneousFleet(50, 3));
  const plan = planPlacements(index, [], replicasOf('team/llama', 8, { gpus: 1, spreadAcrossProviders: true }));
  const perProvider = new Map<string, number>();
  for (const provider of providersOf(index, plan.placements.map((p) => p.node))) {
    perProvider.set(provider, (perProvider.get(provider) ?? 0) + 1);
  }
  t.deepEqual([...perProvider.values()].sort(), [2, 3, 3]);
});

test('Within one provider a spread pool still packs tightly onto the fewest nodes', (t) => {
  const index = new FleetIndex(homogeneousFleet(50, 3));
  const plan = planPlacements(index, [], replicasOf('team/llama', 8, { gpus: 1, spreadAcrossProviders: true }));
  t.is(new Set(plan.placements.map((p) => p.node)).size, 3);
});

test('Spreading counts replicas the pool already has, so a scale-up goes to providers it does not use yet', (t) => {
  const index = new FleetIndex([node('a1', { provider: 'a' }), node('a2', { provider: 'a' }), node('b1', { provider: 'b' })]);
  const existing = [{ pool: 'team/llama', replicaId: 'old', node: 'a1', gpus: 1 }];
  index.allocate('a1', 1);
  const plan = planPlacements(index, existing, [request('new', { spreadAcrossProviders: true })]);
  t.is(plan.placements[0]?.node, 'b1');
});

test('Spreading prefers an unused provider even over an exact fit on a used one', (t) => {
  const index = new FleetIndex([node('a1', { provider: 'a', gpuFree: 2 }), node('b1', { provider: 'b' })]);
  const existing = [{ pool: 'team/llama', replicaId: 'old', node: 'a1', gpus: 6 }];
  const plan = planPlacements(index, existing, [request('new', { gpus: 2, spreadAcrossProviders: true })]);
  t.is(plan.placements[0]?.node, 'b1');
});

test('Without spreading the same situation takes the exact fit', (t) => {
  const index = new FleetIndex([node('a1', { provider: 'a', gpuFree: 2 }), node('b1', { provider: 'b' })]);
  const existing = [{ pool: 'team/llama', replicaId: 'old', node: 'a1', gpus: 6 }];
  const plan = planPlacements(index, existing, [request('new', { gpus: 2 })]);
  t.is(plan.placements[0]?.node, 'a1');
});

test('Spreading is a preference: with one provider every replica is still placed', (t) => {
  const index = new FleetIndex(homogeneousFleet(2, 1));
  const plan = planPlacements(index, [], replicasOf('team/llama', 4, { gpus: 4, spreadAcrossProviders: true }));
  t.is(plan.unplaced.length, 0);
});

test('Other pools do not count against a pool’s spread', (t) => {
  const index = new FleetIndex([node('a1', { provider: 'a' }), node('b1', { provider: 'b' })]);
  const existing = [{ pool: 'team/other', replicaId: 'o', node: 'a1', gpus: 1 }];
  const plan = planPlacements(index, existing, [request('new', { spreadAcrossProviders: true })]);
  t.is(plan.placements[0]?.node, 'a1');
});

for (const maxPerNode of [1, 2, 3]) {
  test(`maxPerNode ${maxPerNode} caps each node at ${maxPerNode} replicas of the pool even when packing wants more`, (t) => {
    const index = new FleetIndex(homogeneousFleet(4, 1));
    const plan = planPlacements(index, [], replicasOf('team/llama', 8, { gpus: 1, maxPerNode }));
    const perNode = new Map<string, number>();
    for (const p of plan.placements) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
    t.true([...perNode.values()].every((n) => n <= maxPerNode));
    t.is(plan.placements.length, Math.min(8, 4 * maxPerNode));
    t.true(plan.unplaced.every((u) => u.reason === 'SpreadConstraint'));
  });
}

test('maxPerNode still lets other pools fill the node', (t) => {
  const index = new FleetIndex([node('a')]);
  const plan = planPlacements(index, [], [
    ...replicasOf('team/x', 2, { gpus: 2, maxPerNode: 1 }),
    ...replicasOf('team/y', 2, { gpus: 2, maxPerNode: 1 }),
  ]);
  t.deepEqual(plan.placements.map((p) => `${p.pool}@${p.node}`).sort(), ['team/x@a', 'team/y@a']);
  t.deepEqual(plan.unplaced.map((u) => u.reason), ['SpreadConstraint', 'SpreadConstraint']);
});
