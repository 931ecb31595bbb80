import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileSettlement, compileTolk, TolkCompileError } from '../../operator/src/settlement/contract/compile.js';

test('the settlement contract compiles and the code cell is cached per process', async (t) => {
  const a = await compileSettlement();
  const b = await compileSettlement();
  t.is(a, b);
  t.true(a.bits.length > 0);
});

test('a compiler error fails loudly with the compiler message, and a fixed source compiles afterwards', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tolk-'));
  writeFileSync(join(dir, 'broken.tolk'), 'tolk 1.3\nfun onInternalMessage(in: InMessage) { undefinedThing(); }\n');
  const err = await t.throwsAsync(compileTolk('broken.tolk', dir), { instanceOf: TolkCompileError });
  t.regex(err!.message, /undefinedThing/);
  writeFileSync(join(dir, 'broken.tolk'), 'tolk 1.3\nfun onInternalMessage(in: InMessage) { }\n');
  t.truthy(await compileTolk('broken.tolk', dir));
});
