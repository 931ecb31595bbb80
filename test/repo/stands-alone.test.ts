// The repository stands alone: no file of the code or the tests names a path outside it (a sibling
// checkout such as ../shared, a developer's home or work directory, or a relative path that climbs
// above the repository root), in code or in comments. A fresh clone with nothing beside it must build,
// test and read the same, so a reference outside is caught here rather than on the first clean machine.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FOLDERS = ['test', 'operator', 'cli', 'attester', 'dev'];
const SELF = 'test/repo/stands-alone.test.ts';
const BINARY = /\.(bin|der|cer|crt|gz|tgz|zip|png|jpg|boc|so|o|wasm)$/i;

/**
 * Places that name an escaping path as data on purpose, each with why. Keyed `file: text`; a stale entry
 * fails the test too, so the list cannot outlive what it excuses.
 */
const EXPECTED: Record<string, string> = {
  'test/settlementaccount/state-dir-confinement.test.ts: ../../../etc': 'input the confinement check must refuse',
};

/** The files git tracks under the folders, and new ones it does not ignore (so a file not yet committed is checked too). */
function files(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', ...FOLDERS], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // This file is left out: its examples of what it looks for are the only ones meant to be here.
  return [...new Set(out.split('\0').filter((f) => f && !BINARY.test(f) && f !== SELF))];
}

/** Where the text of `file` points outside the repository; each finding as `file: text`. */
export function outsideReferences(file: string, text: string): string[] {
  const found: string[] = [];
  const dir = dirname(join(ROOT, file));
  const escapes = (base: string, rel: string) => {
    const target = relative(ROOT, resolve(base, rel));
    return target === '..' || target.startsWith(`..${sep}`);
  };
  // A sibling checkout by name, in any spelling: "../shared", join(x, '..', 'shared').
  for (const m of text.matchAll(/\.\.\/shared\b|['"]\.\.['"]\s*,\s*['"]shared['"]/g)) found.push(`${file}: ${m[0]}`);
  // Absolute paths into a home or work directory (never part of a clone).
  for (const m of text.matchAll(/(?<![\w.])\/(?:work|home|root|Users|workspace)\/[\w.-]+/g)) found.push(`${file}: ${m[0]}`);
  // A relative path written out ("../../x") that climbs above the root from this file's folder.
  for (const m of text.matchAll(/(?<![\w.\/])(?:\.\.\/)+(?:[\w.-]+\/?)*/g)) {
    if (!/^(?:\.\.\/)+shared\b/.test(m[0]) && escapes(dir, m[0])) found.push(`${file}: ${m[0].replace(/\/$/, '')}`);
  }
  // The same as path segments: join(here, '..', '..', '..') from a file's own folder.
  for (const m of text.matchAll(/import\.meta\.url\)\)?\s*,\s*((?:['"]\.\.['"]\s*,?\s*)+)/g)) {
    const ups = m[1]!.match(/\.\./g)!.length;
    if (escapes(dir, Array(ups).fill('..').join('/'))) found.push(`${file}: ${ups} '..' segments from its own folder`);
  }
  return found;
}

test('no file under test/, operator/, cli/, attester/ or dev/ refers to a path outside the repository', (t) => {
  const list = files();
  t.true(list.length > 100, `git listed ${list.length} files`);
  const found = new Set<string>();
  for (const file of list) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // listed but deleted in the working tree
    }
    for (const f of outsideReferences(file, text)) found.add(f);
  }
  t.deepEqual([...found].filter((f) => !(f in EXPECTED)), [], 'references outside the repository');
  t.deepEqual(Object.keys(EXPECTED).filter((e) => !found.has(e)), [], 'excused references that no longer exist');
});

test('the check finds each kind of outside reference and passes paths that stay inside', (t) => {
  t.deepEqual(outsideReferences('test/a/x.test.ts', "readFileSync('../../../shared/vectors/a.bin')"), ['test/a/x.test.ts: ../shared']);
  t.deepEqual(outsideReferences('test/a/x.ts', "join(dirname(fileURLToPath(import.meta.url)), '..', 'shared')"), ["test/a/x.ts: '..', 'shared'"]);
  t.deepEqual(outsideReferences('dev/x.ts', "const p = '/work/main/crds';"), ['dev/x.ts: /work/main']);
  t.deepEqual(outsideReferences('test/a/x.ts', "import y from '../../../elsewhere/y.js';"), ['test/a/x.ts: ../../../elsewhere/y.js']);
  t.deepEqual(outsideReferences('test/a/x.ts', "join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')"), ["test/a/x.ts: 3 '..' segments from its own folder"]);
  t.deepEqual(outsideReferences('test/a/x.ts', "import y from '../../operator/src/y.js';\njoin(dirname(fileURLToPath(import.meta.url)), '..', '..');\n// see /usr/bin/env"), []);
});
