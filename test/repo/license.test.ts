// The repository's licence: LICENSE holds the Apache License 2.0 with the project's copyright line, and
// package.json (what npm and registries read) names the same licence.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('LICENSE is the Apache License 2.0 of The Chrysalis Authors, and package.json says Apache-2.0', (t) => {
  const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  t.regex(text, /^Copyright 2026 The Chrysalis Authors\n/);
  t.regex(text, /Apache License\s+Version 2\.0, January 2004/);
  t.regex(text, /END OF TERMS AND CONDITIONS/);
  t.is((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license?: string }).license, 'Apache-2.0');
});
