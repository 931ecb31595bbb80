#!/usr/bin/env node
// Entry point for `chrysalis` and `kubectl-chrysalis` (run-entry.js: TypeScript in a checkout, dist/ when installed).
import { runEntry } from './run-entry.js';

await runEntry(new URL('../src/main.ts', import.meta.url), new URL('../../dist/cli/src/main.js', import.meta.url));
