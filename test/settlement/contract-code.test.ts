// The settlement contract the operator deploys is the compiled cell committed beside its source. Its code
// hash is pinned here: a contract change is a deliberate act (recompile with scripts/compile-contract.ts,
// then update the pin), never a side effect of a compiler upgrade or a stray edit. Production loads the
// committed cell and never reaches the Tolk compiler.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileSettlement } from '../../operator/src/settlement/contract/compile.js';
import { loadCompiledContract, SETTLEMENT_COMPILED_FILE, settlementCode } from '../../operator/src/settlement/contract/code.js';

const PINNED_SETTLEMENT_CODE_HASH = 'e050bc7f9c2a0a46b60e062c3c9e9d032f1867acc0291fe2762e0e05f2e89e78';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('the committed settlement code has the pinned hash', (t) => {
  t.is(settlementCode().hash().toString('hex'), PINNED_SETTLEMENT_CODE_HASH);
});

test('settlement.tolk compiles to exactly the committed code', async (t) => {
  const compiled = await compileSettlement();
  t.is(compiled.hash().toString('hex'), settlementCode().hash().toString('hex'),
    'settlement.tolk changed without recompiling: run `npx tsx scripts/compile-contract.ts`, then update PINNED_SETTLEMENT_CODE_HASH');
});

test('a compiled contract file whose code does not match its recorded hash is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-compiled-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const committed = JSON.parse(readFileSync(SETTLEMENT_COMPILED_FILE, 'utf8')) as { hash: string; hex: string };
  const forged = join(dir, 'forged.json');
  // The recorded hash of some other code: the file was edited by hand or damaged.
  writeFileSync(forged, JSON.stringify({ ...committed, hash: committed.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) }));
  t.throws(() => loadCompiledContract(forged), { message: /not the recorded .*regenerate it/ });
  const missing = join(dir, 'missing.json');
  writeFileSync(missing, JSON.stringify({ hash: committed.hash }));
  t.throws(() => loadCompiledContract(missing), { message: /needs "hex" and "hash"/ });
});

/** Every repository module `entry` reaches through static and dynamic imports, and the packages it names. */
function importGraph(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (modules.has(file)) continue;
    modules.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:^|\s)(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = (m[1] ?? m[2])!;
      if (/^import\s+type\s/.test(m[0].trim())) continue; // erased at compile time
      if (spec.startsWith('.')) pending.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { modules, packages };
}

for (const entry of ['operator/src/main.ts', 'cli/src/main.ts', 'attester/src/main.ts']) {
  test(`${entry} never reaches the Tolk compiler`, (t) => {
    const { modules, packages } = importGraph(join(repoRoot, entry));
    t.true(modules.size > 3, 'the import graph was followed');
    t.false(packages.has('@ton/tolk-js'), '@ton/tolk-js is imported from the running program');
    t.false(modules.has(join(repoRoot, 'operator/src/settlement/contract/compile.ts')), 'compile.ts is imported from the running program');
  });
}
