#!/usr/bin/env node
// Entry point for `chrysalis-attester`. In a checkout the TypeScript source lies beside this folder and
// runs through tsx, so `npm ci` is the only step; an installed package (`npm pack` carries the compiled
// JavaScript and no TypeScript) runs dist/ with plain Node, no tsx. The images run dist/ directly.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../../dist/attester/src/main.js');
}
