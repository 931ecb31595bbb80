// `npm run bench -- <name> [--quick]`: runs test/bench/<name>.ts, whose default export is
// `(options: BenchOptions) => Promise<BenchResult>`. The runner prints the result as the last line of stdout,
// one JSON object, so scripts can read the figure without parsing prose.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BenchOptions {
  quick: boolean;
  /** Arguments after the benchmark's name, other than --quick. */
  args: string[];
}

export interface BenchResult {
  bench: string;
  metric: string;
  unit: string;
  ours: number;
  /** null only where a run measured ours alone (placement --ours-only). */
  baseline: number | null;
  /** ours / baseline, in the direction `metric` names; null without a baseline. */
  ratio: number | null;
  params: Record<string, unknown>;
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));

const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [--quick]\n`);
  process.exit(2);
}
const file = join(here, `${name}.ts`);
if (!existsSync(file)) process.exit(2);
const mod = (await import(pathToFileURL(file).href)) as { default: (o: BenchOptions) => Promise<BenchResult> };
const result = await mod.default({ quick: rest.includes('--quick'), args: rest.filter((a) => a !== '--quick') });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
