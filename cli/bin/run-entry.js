// How every bin shim starts its program. In a checkout the TypeScript source exists and runs through tsx,
// so `npm ci` is the only step; an installed package (`npm pack` carries the compiled JavaScript and no
// TypeScript) runs the compiled file with plain Node, no tsx.
import { existsSync } from 'node:fs';

/** Runs `source` (a .ts URL) through tsx when it exists, else `compiled` (its .js URL under dist/). */
export async function runEntry(source, compiled) {
  if (existsSync(source)) {
    const { register } = await import('tsx/esm/api');
    register();
    await import(source.href);
  } else {
    await import(compiled.href);
  }
}
