// Temporary directories made by tests, removed when the test file's process exits, pass or fail (ava
// runs each file in its own process here): a test run must not leave its files behind in the OS's temp
// directory, where every run of `make test` on a CI machine would add to them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let removeOnExit = false;

/** A new directory under the OS's temp dir, named `<prefix>XXXXXX`, gone when this process exits. */
export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!removeOnExit) {
    removeOnExit = true;
    process.once('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
  }
  return dir;
}
