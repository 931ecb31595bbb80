// The settlement contract's code as the operator deploys it: the compiled cell committed beside its
// source (settlement.compiled.json, written by scripts/compile-contract.ts), so production never runs the
// Tolk compiler and every operator build derives the same contract address from the same bytes.
// test/settlement/contract-code.test.ts pins the code's hash and checks that settlement.tolk still
// compiles to exactly this cell.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cell } from '@ton/core';

/** The shape of a compiled contract file (the blueprint convention: hex BoC and the code hash). */
export interface CompiledContract {
  generated?: string;
  hash: string;
  hashBase64: string;
  hex: string;
}

export const SETTLEMENT_COMPILED_FILE = fileURLToPath(new URL('./settlement.compiled.json', import.meta.url));

/** The code cell a compiled contract file holds; refused unless it is one cell with the recorded hash. */
export function loadCompiledContract(file: string): Cell {
  const regenerate = 'regenerate it with `npx tsx scripts/compile-contract.ts`';
  const compiled = JSON.parse(readFileSync(file, 'utf8')) as Partial<CompiledContract>;
  if (typeof compiled.hex !== 'string' || typeof compiled.hash !== 'string') {
    throw new Error(`${file} is not a compiled contract (it needs "hex" and "hash"); ${regenerate}`);
  }
  const cells = Cell.fromBoc(Buffer.from(compiled.hex, 'hex'));
  const [code] = cells;
  if (cells.length !== 1 || !code) throw new Error(`${file}: "hex" holds ${cells.length} root cells, not one; ${regenerate}`);
  const hash = code.hash().toString('hex');
  if (hash !== compiled.hash.toLowerCase()) {
    throw new Error(`${file}: the code's hash is ${hash}, not the recorded ${compiled.hash}, so the file was changed by hand or damaged; ${regenerate}`);
  }
  return code;
}

let settlement: Cell | undefined;

/** The settlement contract's code cell, read once per process. */
export function settlementCode(): Cell {
  settlement ??= loadCompiledContract(SETTLEMENT_COMPILED_FILE);
  return settlement;
}
