// Every name Chrysalis writes onto objects is defined once, in operator/src/marks.ts: a label or
// annotation spelt out again elsewhere drifts the day one copy changes. This reads the product's
// sources (operator, CLI, attester) for a string that is exactly such a name, a field manager given
// as a literal, or a constant named like a mark (LABEL_…, ANNOTATION_…, TAINT_…, …FIELD_MANAGER…)
// set to a string, anywhere but marks.ts.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = ['operator/src', 'cli/src', 'attester/src'];
const MARKS = 'operator/src/marks.ts';
/** The API group's own strings (apiVersion, the generated types) are not marks. */
const API_VERSION = /^chrysalis\.dev\/v\d/;

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

function offenders(): string[] {
  const found: string[] = [];
  for (const dir of SOURCES) {
    for (const file of sourceFiles(join(root, dir))) {
      const rel = relative(root, file);
      if (rel === MARKS) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*(\/\/|\/?\*)/.test(line)) return;
        for (const m of line.matchAll(/['"`](chrysalis\.dev\/[a-z0-9.-]+|app\.kubernetes\.io\/[a-z-]+)['"`]/g)) {
          if (!API_VERSION.test(m[1]!)) found.push(`${rel}:${i + 1}: ${m[1]}`);
        }
        if (/fieldManager:\s*['"`]/.test(line)) found.push(`${rel}:${i + 1}: a field manager given as a literal`);
        const named = /const (\w*(?:FIELD_MANAGER|LABEL_|ANNOTATION_|TAINT_|READINESS_GATE)\w*)\s*=\s*['"`]/.exec(line);
        if (named) found.push(`${rel}:${i + 1}: ${named[1]}`);
      });
    }
  }
  return found;
}

test('no label, annotation, taint, gate or field manager name is defined outside marks.ts', (t) => {
  t.deepEqual(offenders(), []);
});
