// `chrysalis demo` sends the operator's logs to a file in a new temp directory and names it on stderr
// ("operator logs: PATH"); the CLI keeps it on purpose, for the user to read. A test that ran the demo
// removes it, so a test run leaves nothing in the OS's temp directory.
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';

/** The log file the demo named in `stderr`, if it named one. */
export function demoLogFile(stderr: string): string | undefined {
  return /^operator logs: (\S+)/m.exec(stderr)?.[1];
}

/** Removes the log directory the demo named in `stderr`, if it named one. */
export function removeDemoLogDir(stderr: string): void {
  const file = demoLogFile(stderr);
  // Only the directory the demo made (chrysalis-demo-XXXXXX), never whatever else a bad line might name.
  if (file && basename(dirname(file)).startsWith('chrysalis-demo-')) rmSync(dirname(file), { recursive: true, force: true });
}
