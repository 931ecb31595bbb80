// The benchmarks' numeric flags (`--nodes 5000`, `--runs 3`, …): one reader, one error message.
// (Files starting with `_` are not benchmarks: run.ts skips them.)
import { imageEntrypoint } from '../../dev/images/entrypoint.js';

/** The positive number after `name` in `args`, or `fallback` when the flag is absent. */
export function numberFlag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number, got ${args[i + 1] ?? 'nothing'}`);
  return v;
}

/**
 * Node flags for an operator process a bench starts: its image's (the Dockerfile's ENTRYPOINT, so a
 * figure measured here is what a cluster runs), then OPERATOR_NODE_ARGS (e.g. "--cpu-prof"), which can
 * also override one of the image's ("--heap-growing-percent=0" is V8's default).
 */
export function operatorNodeFlags(): string[] {
  return [...imageEntrypoint('operator').nodeFlags, ...(process.env.OPERATOR_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
}
