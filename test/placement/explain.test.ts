// Human-readable reasons for the CLI's dry run and the InferencePool Degraded condition.
import test from 'ava';
import {
  FleetIndex,
  INSUFFICIENT_ATTESTED_CAPACITY,
  degradedCondition,
  describeUnplaced,
  planPlacements,
  summarizeUnplaced,
} from '../../operator/src/placement/index.js';
import { node, replicasOf } from './builders.js';

function unplacedOf(fleetFree: number[], replicas = replicasOf('team/llama', 3, { gpus: 4 })) {
  const index = new FleetIndex(fleetFree.map((free, i) => node(`n${i}`, { gpuFree: free })));
  return planPlacements(index, [], replicas).unplaced;
}

test('One line per unplaced replica names the pool, replica, size, reason and what is missing', (t) => {
  const [first] = unplacedOf([2]);
  t.is(
    describeUnplaced(first!),
    'team/llama: replica team/llama-r0 (4 GPUs) InsufficientGpus: needs 4 free GPUs on one node; ' +
      'the 1 eligible nodes have 2 GPUs free in total and at most 2 on any one node',
  );
});

test('Replicas failing for the same reason are summarized once with a count', (t) => {
  const unplaced = unplacedOf([4]); // one of three fits
  t.is(
    summarizeUnplaced(unplaced, 3),
    '2 of 3 replicas unplaced: 2 InsufficientGpus (needs 4 free GPUs on one node; the 1 eligible nodes ' +
      'have 0 GPUs free in total and at most 0 on any one node)',
  );
});

test('A pool with unplaced replicas is Degraded with reason InsufficientAttestedCapacity', (t) => {
  const condition = degradedCondition(unplacedOf([]), 3);
  t.is(condition.status, 'True');
  t.is(condition.reason, INSUFFICIENT_ATTESTED_CAPACITY);
  t.regex(condition.message, /^3 of 3 replicas unplaced: 3 NoAttestedNode \(no node is attested/);
});

test('A fully placed pool is not Degraded', (t) => {
  t.deepEqual(degradedCondition(unplacedOf([8, 8]), 3), {
    status: 'False',
    reason: 'AllReplicasPlaced',
    message: 'all 3 replicas placed',
  });
});

test('The summary does not depend on the order of the unplaced list', (t) => {
  const mixed = [
    ...unplacedOf([], replicasOf('team/a', 1)),
    ...unplacedOf([2], replicasOf('team/a', 2, { gpus: 4 })),
  ];
  t.is(summarizeUnplaced(mixed, 3), summarizeUnplaced([...mixed].reverse(), 3));
  t.regex(summarizeUnplaced(mixed, 3), /^3 of 3 replicas unplaced: 2 InsufficientGpus .*; 1 NoAttestedNode/);
});
