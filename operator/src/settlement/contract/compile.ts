// Compiles the project's Tolk contracts with the real compiler (@ton/tolk-js, WASM) and caches the
// resulting code cell per process: for tests, benchmarks and scripts/compile-contract.ts, which writes the
// compiled code the operator deploys (code.ts). Nothing the operator or the CLI runs imports this file.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cell } from '@ton/core';
import { runTolkCompiler } from '@ton/tolk-js';

const contractDir = dirname(fileURLToPath(import.meta.url));
const cache = new Map<string, Promise<Cell>>();

/** Thrown when the Tolk compiler rejects a contract; carries the compiler's message. */
export class TolkCompileError extends Error {
  constructor(file: string, compilerMessage: string) {
    super(`Tolk compilation of ${file} failed:\n${compilerMessage}`);
    this.name = 'TolkCompileError';
  }
}

/**
 * Compiles `<dir>/<file>` (default dir: this folder) and returns its code cell. Imports are resolved
 * relative to the same directory; `@stdlib/...` imports are served by tolk-js itself.
 */
export function compileTolk(file: string, dir: string = contractDir): Promise<Cell> {
  const key = join(dir, file);
  let pending = cache.get(key);
  if (!pending) {
    pending = (async () => {
      const result = await runTolkCompiler({
        entrypointFileName: file,
        fsReadCallback: (path) => readFileSync(join(dir, path), 'utf-8'),
      });
      if (result.status === 'error') throw new TolkCompileError(key, result.message);
      const [code] = Cell.fromBoc(Buffer.from(result.codeBoc64, 'base64'));
      if (!code) throw new TolkCompileError(key, 'compiler returned an empty BoC');
      return code;
    })();
    // A failed compilation is not cached, so a fixed source is picked up by the next call.
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}

/** The settlement contract's code cell. */
export function compileSettlement(): Promise<Cell> {
  return compileTolk('settlement.tolk');
}
