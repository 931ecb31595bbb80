#!/usr/bin/env node
// Entry point for `chrysalis` and `kubectl-chrysalis`: runs the TypeScript CLI through tsx, so a checkout
// works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
