// Hard constraints: which nodes a replica may use at all, and the reason it reports when none qualify.
import test from 'ava';
import { FleetIndex, planPlacements } from '../../operator/src/placement/index.js';
import type { NodeCapacity, Placement, ReplicaRequest, UnplacedReason } from '../../operator/src/placement/index.js';
import { node, request } from './builders.js';

interface Case {
  title: string;
  fleet: NodeCapacity[];
  replica: ReplicaRequest;
  existing?: Placement[];
  placedOn?: string;
  reason?: UnplacedReason;
  messageIncludes?: string;
}

const cases: Case[] = [
  {
    title: 'An unattested node is skipped even when it fits exactly',
    fleet: [node('a-unattested', { gpuFree: 1, attested: false }), node('b')],
    replica: request('r', { gpus: 1 }),
    placedOn: 'b',
  },
  {
    title: 'A quarantined node is skipped even when it fits exactly',
    fleet: [node('a-quarantined', { gpuFree: 1, quarantined: true }), node('b')],
    replica: request('r', { gpus: 1 }),
    placedOn: 'b',
  },
  {
    title: 'A cordoned node is skipped even when it fits exactly',
    fleet: [node('a-cordoned', { gpuFree: 1, cordoned: true }), node('b')],
    replica: request('r', { gpus: 1 }),
    placedOn: 'b',
  },
  {
    title: 'With no schedulable node at all the reason is NoAttestedNode and the message counts why',
    fleet: [node('a', { attested: false }), node('b', { quarantined: true }), node('c', { cordoned: true })],
    replica: request('r'),
    reason: 'NoAttestedNode',
    messageIncludes: '3 known, 1 not attested, 1 quarantined, 1 cordoned',
  },
  {
    title: 'An empty fleet says so',
    fleet: [],
    replica: request('r'),
    reason: 'NoAttestedNode',
    messageIncludes: 'the fleet is empty',
  },
  {
    title: 'A node with another GPU model is never used',
    fleet: [node('a', { gpuModel: 'A100' })],
    replica: request('r', { gpuModels: ['H100', 'H200'] }),
    reason: 'GpuModelUnavailable',
    messageIncludes: 'no attested node has GPU model H100, H200; attested nodes offer A100',
  },
  {
    title: 'A node with a disallowed TEE is never used',
    fleet: [node('a', { tee: 'simulated' })],
    replica: request('r', { teeTypes: ['tdx'] }),
    reason: 'TeeUnavailable',
    messageIncludes: 'runs TEE tdx; they run simulated',
  },
  {
    title: 'A node priced above the cap is never used',
    fleet: [node('a', { priceCoefficient: 1500 }), node('b', { priceCoefficient: 1200 })],
    replica: request('r', { maxPriceCoefficient: 1100 }),
    reason: 'PriceCapExceeded',
    messageIncludes: 'price coefficient 1200, above the cap 1100',
  },
  {
    title: 'A node priced exactly at the cap is allowed',
    fleet: [node('a', { priceCoefficient: 1100 })],
    replica: request('r', { maxPriceCoefficient: 1100 }),
    placedOn: 'a',
  },
  {
    title: 'The TEE is reported before the price when both rule a node out',
    fleet: [node('a', { tee: 'tdx', priceCoefficient: 5000 })],
    replica: request('r', { teeTypes: ['sev-snp'], maxPriceCoefficient: 1000 }),
    reason: 'TeeUnavailable',
  },
  {
    title: 'Too few free GPUs on every eligible node is InsufficientGpus with the largest free block',
    fleet: [node('a', { gpuFree: 3 }), node('b', { gpuFree: 2 }), node('c', { gpuFree: 7, gpuModel: 'A100' })],
    replica: request('r', { gpus: 4 }),
    reason: 'InsufficientGpus',
    messageIncludes: 'the 2 eligible nodes have 5 GPUs free in total and at most 3 on any one node',
  },
  {
    title: 'A replica larger than any node says no node is that big',
    fleet: [node('a')],
    replica: request('r', { gpus: 16 }),
    reason: 'InsufficientGpus',
    messageIncludes: 'the largest eligible node has 8 in total',
  },
  {
    title: 'maxPerNode blocking the only node with room is a SpreadConstraint',
    fleet: [node('a'), node('b', { gpuFree: 0 })],
    replica: request('r', { maxPerNode: 1 }),
    existing: [{ pool: 'team/llama', replicaId: 'r0', node: 'a', gpus: 1 }],
    reason: 'SpreadConstraint',
    messageIncludes: 'maxPerNode=1',
  },
  {
    title: 'Another pool on the node does not count against maxPerNode',
    fleet: [node('a')],
    replica: request('r', { maxPerNode: 1 }),
    existing: [{ pool: 'team/other', replicaId: 'o0', node: 'a', gpus: 1 }],
    placedOn: 'a',
  },
];

for (const c of cases) {
  test(c.title, (t) => {
    const plan = planPlacements(new FleetIndex(c.fleet), c.existing ?? [], [c.replica]);
    if (c.placedOn !== undefined) {
      t.deepEqual(plan.unplaced, []);
      t.is(plan.placements[0]?.node, c.placedOn);
      return;
    }
    t.deepEqual(plan.placements, []);
    t.is(plan.unplaced[0]?.reason, c.reason);
    if (c.messageIncludes !== undefined) t.true(plan.unplaced[0]?.message.includes(c.messageIncludes), plan.unplaced[0]?.message);
  });
}

test('A node that becomes attested later is used without rebuilding the index', (t) => {
  const index = new FleetIndex([node('a', { attested: false })]);
  t.is(planPlacements(index, [], [request('r1')]).unplaced[0]?.reason, 'NoAttestedNode');
  index.upsertNode(node('a'));
  t.is(planPlacements(index, [], [request('r2')]).placements[0]?.node, 'a');
});

test('A node quarantined after placement takes no further replicas', (t) => {
  const index = new FleetIndex([node('a'), node('b')]);
  t.is(planPlacements(index, [], [request('r1')]).placements[0]?.node, 'a');
  index.upsertNode({ ...(index.node('a') as NodeCapacity), quarantined: true });
  const plan = planPlacements(index, [], [request('r2'), request('r3')]);
  t.deepEqual(plan.placements.map((p) => p.node), ['b', 'b']);
});

test('Invalid requests are rejected with the replica and field named', (t) => {
  const index = new FleetIndex([node('a')]);
  t.throws(() => planPlacements(index, [], [request('r', { gpus: 0 })]), { message: /replica "r".*gpus must be an integer ≥ 1/ });
  t.throws(() => planPlacements(index, [], [request('r', { maxPerNode: 0 })]), { message: /maxPerNode/ });
  t.throws(() => planPlacements(index, [], [request('r'), request('r')]), { message: /appears twice/ });
});

test('Invalid nodes are rejected with the field named', (t) => {
  t.throws(() => new FleetIndex([node('a', { gpuFree: 9 })]), { message: /gpuFree/ });
  t.throws(() => new FleetIndex([node('a', { gpuTotal: -1, gpuFree: 0 })]), { message: /gpuTotal/ });
  t.throws(() => new FleetIndex([node('a', { provider: '' })]), { message: /provider/ });
});
