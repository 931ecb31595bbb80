// The benchmarks' numeric flags (`--nodes 5000`, `--runs 3`, …): one reader, one error message.
// (Files starting with `_` are not benchmarks: run.ts skips them.)

/** The positive number after `name` in `args`, or `fallback` when the flag is absent. */
export function numberFlag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number, got ${args[i + 1] ?? 'nothing'}`);
  return v;
}
