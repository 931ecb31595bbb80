// A test run killed with -9 cannot stop its real node; the next node started on the machine finds it (its
// owner process is gone) and removes all of it, its Pod's namespace and processes included.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { realNodeLeftovers, startRealNode, type RealNodeFootprint } from '../../dev/cluster/real-node.js';

test('a real node orphaned by a killed test run is removed when the next node starts', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/realnode/orphan-node.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  const line = await new Promise<string>((resolveLine, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolveLine);
    child.once('exit', (code) => reject(new Error(`orphan-node.ts exited (${code}) before its node ran a Pod`)));
  });
  const orphan = JSON.parse(line) as RealNodeFootprint;
  child.kill('SIGKILL');
  await exited;
  const left = await realNodeLeftovers(orphan);
  t.true(left.some((l) => l.startsWith('process')) && left.some((l) => l.startsWith('network namespace /var/run/netns/cni-')),
    `the orphan is still there: ${left.join('; ')}`);

  const plane = await startControlPlane({ kwok: false });
  t.teardown(() => plane.stop());
  const next = await startRealNode(plane);
  try {
    const stillLeft = await realNodeLeftovers(orphan);
    // The machine-wide items (kernel tunables, kubelet's fixed socket) belong to the running node now.
    t.deepEqual(stillLeft.filter((l) => !l.startsWith('shared path') && !l.startsWith('kernel tunables')), []);
  } finally {
    await next.stop();
  }
  t.deepEqual(await realNodeLeftovers(orphan), []);
});
