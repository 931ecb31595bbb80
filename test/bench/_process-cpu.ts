// A process's CPU time as Linux reports it, for the benches that say where a phase's time went.
// (Files starting with `_` are not benchmarks: run.ts skips them.)
import { readFileSync } from 'node:fs';

/** User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
