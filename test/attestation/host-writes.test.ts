import test from 'ava';
import { HostWrites } from '../../operator/src/attestation/service/host-writes.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

test('sections for one host run one at a time, in the order they asked', async (t) => {
  const writes = new HostWrites();
  let running = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all([1, 2, 3, 4].map((n) => writes.run('gpu-1', async () => {
    running++;
    most = Math.max(most, running);
    await tick();
    order.push(n);
    running--;
  })));
  t.is(most, 1);
  t.deepEqual(order, [1, 2, 3, 4]);
  t.is(writes.busyHosts, 0, 'a drained host holds no entry');
});

test('different hosts do not wait for each other', async (t) => {
  const writes = new HostWrites();
  let release!: () => void;
  const held = writes.run('gpu-1', () => new Promise<void>((r) => (release = r)));
  const other = await writes.run('gpu-2', async () => 'done');
  t.is(other, 'done', 'gpu-2 ran while gpu-1 was still held');
  release();
  await held;
});

test('a failed section reaches its caller only and does not stop the next one', async (t) => {
  const writes = new HostWrites();
  const failed = writes.run('gpu-1', async () => {
    await tick();
    throw new Error('409 stale');
  });
  const next = writes.run('gpu-1', async () => 'ran');
  await t.throwsAsync(failed, { message: '409 stale' });
  t.is(await next, 'ran');
});
