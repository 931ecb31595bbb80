// The stranded-GPU metric that the engine's tests and the benchmark share.
import test from 'ava';
import { measureStranding } from '../../operator/src/placement/index.js';
import type { NodeCapacity, StrandingReport } from '../../operator/src/placement/index.js';
import { node } from './builders.js';

const cases: { title: string; nodes: NodeCapacity[]; pending?: number[]; expected: StrandingReport }[] = [
  {
    title: 'Free GPUs on idle nodes are free but not stranded',
    nodes: [node('a'), node('b', { gpuFree: 0 })],
    expected: { freeGpus: 8, strandedGpus: 0, partlyUsedNodes: 0, idleNodes: 1, unusableForPending: 0 },
  },
  {
    title: 'Free GPUs on partly used nodes are stranded',
    nodes: [node('a', { gpuFree: 3 }), node('b', { gpuFree: 4 }), node('c')],
    expected: { freeGpus: 15, strandedGpus: 7, partlyUsedNodes: 2, idleNodes: 1, unusableForPending: 0 },
  },
  {
    title: 'Blocks smaller than the smallest pending replica are unusable for it',
    nodes: [node('a', { gpuFree: 3 }), node('b', { gpuFree: 4 }), node('c', { gpuFree: 1 })],
    pending: [8, 4],
    expected: { freeGpus: 8, strandedGpus: 8, partlyUsedNodes: 3, idleNodes: 0, unusableForPending: 4 },
  },
  {
    title: 'Unschedulable nodes count for nothing',
    nodes: [node('a', { gpuFree: 3, attested: false }), node('b', { cordoned: true }), node('c', { gpuFree: 2, quarantined: true })],
    pending: [4],
    expected: { freeGpus: 0, strandedGpus: 0, partlyUsedNodes: 0, idleNodes: 0, unusableForPending: 0 },
  },
];

for (const c of cases) {
  test(c.title, (t) => {
    t.deepEqual(measureStranding(c.nodes, c.pending), c.expected);
  });
}
