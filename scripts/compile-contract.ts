// Compiles operator/src/settlement/contract/settlement.tolk with the Tolk compiler and writes the result
// beside it as settlement.compiled.json (the blueprint convention: the code as hex BoC and its hash),
// which is what the operator deploys. Run it after changing the contract, then update the hash pinned in
// test/settlement/contract-code.test.ts to the one printed.
// Usage: npx tsx scripts/compile-contract.ts [--check]   (--check: exit 1 if the committed file differs)
import { readFileSync, writeFileSync } from 'node:fs';
import { compileSettlement } from '../operator/src/settlement/contract/compile.js';
import { SETTLEMENT_COMPILED_FILE, type CompiledContract } from '../operator/src/settlement/contract/code.js';

const code = await compileSettlement();
const compiled: CompiledContract = {
  generated: 'by scripts/compile-contract.ts from settlement.tolk; do not edit',
  hash: code.hash().toString('hex'),
  hashBase64: code.hash().toString('base64'),
  hex: code.toBoc().toString('hex'),
};
// The "generated" key on the first line, so the file says what wrote it where a reader looks first.
const { generated, ...rest } = compiled;
const text = `{ "generated": ${JSON.stringify(generated)},\n${JSON.stringify(rest, null, 2).slice(2)}\n`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(SETTLEMENT_COMPILED_FILE, 'utf8');
  } catch {
    // missing: differs
  }
  if (committed !== text) {
    process.stderr.write(`${SETTLEMENT_COMPILED_FILE} is not what settlement.tolk compiles to; run npx tsx scripts/compile-contract.ts\n`);
    process.exit(1);
  }
  process.stdout.write(`${SETTLEMENT_COMPILED_FILE} is up to date (code hash ${compiled.hash})\n`);
} else {
  writeFileSync(SETTLEMENT_COMPILED_FILE, text);
  process.stdout.write(`wrote ${SETTLEMENT_COMPILED_FILE}\ncode hash ${compiled.hash}\n`);
}
