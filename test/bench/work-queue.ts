// `npm run bench -- work-queue [--keys N] [--quick]`: the work queue's two lines of keys (ordinary and
// urgent, kube/work-queue.ts) at a large backlog. N keys join the ordinary line, every third is then made
// urgent (it leaves the ordinary line from wherever it is and joins the urgent one), and all are taken,
// urgent first. Ours is kube/key-line.ts; the baseline, run side by side, is the plain-array line the queue
// used before (Array.shift to take, indexOf and splice to make urgent). Default 100,000 keys; --quick 10,000.
import { KeyLine } from '../../operator/src/kube/key-line.js';
import { numberFlag } from './_flags.js';
import type { BenchOptions, BenchResult } from './run.js';

interface Line {
  push(key: string): void;
  shift(): string | undefined;
  delete(key: string): boolean;
}

/** The baseline: the array the work queue kept its keys in before key-line.ts. */
class ArrayLine implements Line {
  private readonly keys: string[] = [];
  push(key: string): void { this.keys.push(key); }
  shift(): string | undefined { return this.keys.shift(); }
  delete(key: string): boolean {
    const i = this.keys.indexOf(key);
    if (i >= 0) this.keys.splice(i, 1);
    return i >= 0;
  }
}

/** Milliseconds for one pass of the workload; throws if a key is lost, duplicated or served out of order. */
function pass(keys: number, make: () => Line): number {
  const queue = make();
  const urgent = make();
  const started = performance.now();
  for (let i = 0; i < keys; i++) queue.push(`k${i}`);
  for (let i = 0; i < keys; i += 3) if (queue.delete(`k${i}`)) urgent.push(`k${i}`);
  let taken = 0;
  let expectUrgent = 0;
  for (let key = urgent.shift() ?? queue.shift(); key !== undefined; key = urgent.shift() ?? queue.shift()) {
    if (expectUrgent < keys && key !== `k${expectUrgent}`) throw new Error(`urgent keys out of order: ${key} before k${expectUrgent}`);
    expectUrgent += 3;
    taken++;
  }
  const elapsed = performance.now() - started;
  if (taken !== keys) throw new Error(`${taken} keys taken of ${keys}`);
  return elapsed;
}

export default async function workQueue({ quick, args }: BenchOptions): Promise<BenchResult> {
  const keys = Math.round(numberFlag(args, '--keys', quick ? 10_000 : 100_000));
  const ours = pass(keys, () => new KeyLine());
  const baseline = pass(keys, () => new ArrayLine());
  const round = (ms: number) => Math.round(ms * 10) / 10;
  process.stdout.write(`${keys} keys, every third made urgent, all taken: key-line ${round(ours)} ms, plain array ${round(baseline)} ms\n`);
  return { bench: 'work-queue', metric: 'ms to queue, promote every third key and take them all', unit: 'ms', ours: round(ours), baseline: round(baseline), ratio: Math.round((ours / baseline) * 1000) / 1000, params: { keys, urgentEvery: 3 } };
}
