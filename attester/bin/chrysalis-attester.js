#!/usr/bin/env node
// Entry point for `chrysalis-attester`: runs the TypeScript attester through tsx, so a checkout (or the
// container image) works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
