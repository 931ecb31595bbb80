#!/usr/bin/env node
// Entry point for `chrysalis-attester` (cli/bin/run-entry.js: TypeScript in a checkout, dist/ when
// installed). The images run dist/attester/src/main.js directly.
import { runEntry } from '../../cli/bin/run-entry.js';

await runEntry(new URL('../src/main.ts', import.meta.url), new URL('../../dist/attester/src/main.js', import.meta.url));
