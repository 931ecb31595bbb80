// The sandbox chain's state directory shared across PID namespaces, as `chrysalis demo --in-cluster` shares
// the operator Pod's emptyDir with the claims on the node: a process in another PID namespace cannot see
// the holder's pid and must still wait for the lock instead of taking it over as a dead holder's. The
// contender runs under `unshare --pid --fork --mount-proc` (root, like the real-node tests: fails, not
// skips, without it).
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, utimesSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';

const contender = fileURLToPath(new URL('./_lock-contender.ts', import.meta.url));

function stateDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-sandbox-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a contender in another PID namespace waits for the holder instead of taking its lock over', async (t) => {
  t.timeout(120_000);
  const dir = stateDir(t);
  const holder = new SandboxChain({ stateDir: dir });
  t.teardown(() => holder.close());
  let releasedAt = 0;
  let childOut = '';
  let childErr = '';
  let exited: Promise<number | null> | undefined;
  await holder.run(async () => {
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', contender, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => (childErr += d.toString()));
    exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Hold until the contender is trying, then a while longer: long enough that a takeover would show.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        childOut += d.toString();
        if (childOut.includes('trying')) resolve();
      });
      void exited!.then((c) => reject(new Error(`the contender exited (${c}) before trying: ${childErr.slice(-2000)}`)));
    });
    await new Promise((r) => setTimeout(r, 1500));
    t.false(childOut.includes('acquired'), 'the contender took the lock while its holder was working');
    releasedAt = Date.now();
  });
  const code = await exited;
  t.is(code, 0, childErr.slice(-2000));
  const acquired = Number(/acquired (\d+)/.exec(childOut)?.[1]);
  t.true(acquired >= releasedAt, `acquired at ${acquired}, released at ${releasedAt}`);
});

test('a lock left by another PID namespace is taken over once it is older than any unit of work', async (t) => {
  const dir = stateDir(t);
  const lock = join(dir, 'lock');
  // A holder that can not be checked from here: a pid in a namespace this process is not in.
  writeFileSync(lock, '7 pid:[1]');
  const waiting = new SandboxChain({ stateDir: dir, lockTimeoutMs: 300, foreignLockStaleMs: 60_000 });
  t.teardown(() => waiting.close());
  const refused = await t.throwsAsync(waiting.run(async () => 'ran'));
  t.regex(refused!.message, /locked by process 7 pid:\[1\]/);
  t.true(existsSync(lock), 'a fresh foreign lock is left alone');

  const old = new Date(Date.now() - 120_000);
  utimesSync(lock, old, old);
  const taking = new SandboxChain({ stateDir: dir, lockTimeoutMs: 300, foreignLockStaleMs: 60_000 });
  t.teardown(() => taking.close());
  t.is(await taking.run(async () => 'ran'), 'ran');
});
