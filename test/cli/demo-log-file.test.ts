// The demo's log file: while it is in use every component's JSON lines land in it and nowhere else;
// afterwards the logs go back to where they went before. (The line is logged at error level, so any
// CHRYSALIS_LOG_LEVEL writes it.)
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentLogger, rootLogger, sendLogsToFile } from '../../operator/src/util/log.js';

test('logs sent to a file land there as JSON lines and go back to the console transport afterwards', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const before = rootLogger.transports.slice();
  const file = join(dir, 'operator.log');
  const restore = sendLogsToFile(file);
  t.deepEqual(rootLogger.transports.filter((tr) => before.includes(tr)), [], 'nothing still writes where the logs went before');
  componentLogger('demo-test').error('one line for the file', { n: 1 });
  await restore();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(lines.at(-1), { component: 'demo-test', message: 'one line for the file', n: 1, level: 'error' });
  t.deepEqual(rootLogger.transports, before);
});
