// A quick look at the target scale. Timings are logged, never asserted (the benchmark reports them).
import test from 'ava';
import { FleetIndex, measureStranding, planPlacements } from '../../operator/src/placement/index.js';
import { homogeneousFleet, replicasOf, shuffled } from './builders.js';

test('8,000 replicas from 1,000 pools fill 2,000 nodes × 8 GPUs completely', (t) => {
  // Pools cycle through 1, 2, 4 and 1 GPUs per replica: 8 replicas each, 16,000 GPUs in all, which is
  // exactly the fleet's capacity. Every other pool spreads across providers; every fourth caps per node.
  const sizes = [1, 2, 4, 1];
  const replicas = shuffled(
    Array.from({ length: 1000 }, (_, p) =>
      replicasOf(`ns-${p % 37}/pool-${p}`, 8, {
        gpus: sizes[p % 4] as number,
        spreadAcrossProviders: p % 2 === 0,
        ...(p % 4 === 3 ? { maxPerNode: 2 } : {}),
      }),
    ).flat(),
    42,
  );
  const started = performance.now();
  const index = new FleetIndex(homogeneousFleet(2000, 40));
  const built = performance.now();
  const plan = planPlacements(index, [], replicas);
  const planned = performance.now();

  t.is(plan.unplaced.length, 0, plan.unplaced[0]?.message);
  t.is(plan.placements.length, 8000);
  const stranding = measureStranding(index.nodes());
  t.is(stranding.freeGpus, 0);
  t.is(stranding.strandedGpus, 0);
  t.log(
    `index built in ${(built - started).toFixed(1)} ms, 8,000 replicas planned in ${(planned - built).toFixed(1)} ms, ` +
      `${(index.stats.entriesVisited / 8000).toFixed(1)} entries visited per replica`,
  );
});
