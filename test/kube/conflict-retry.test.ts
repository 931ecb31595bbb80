// Finding (chaos bench, 1,000 nodes): after a leader takeover, 95 in 100 of the new leader's ProviderNode
// status writes were refused with 409. A refused reconcile was retried after 5, 10, 20 ms…, before the
// informer had delivered the object that won, so each retry planned from the same old copy and was
// refused again, and every retry drew on the queue-wide bucket (10/s), whose debt grew until keys waited
// minutes. A 409 now waits for the newer object's watch event, with a timer of at least
// CONFLICT_RETRY_FLOOR_MS as the safety net.
import test from 'ava';
import { Controller, FENCE_CLOSED_RETRY_MS } from '../../operator/src/kube/controller.js';
import { NotLeaderError } from '../../operator/src/kube/leader-election.js';
import { KubeApiError } from '../../operator/src/kube/rest.js';
import { CONFLICT_RETRY_FLOOR_MS } from '../../operator/src/kube/work-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A controller whose reconcile throws `error()` on its first `failures` calls; `calls` says when each call ran (ms). */
function failingController(failures: number, error: () => Error): { controller: Controller; calls: number[] } {
  const calls: number[] = [];
  const started = performance.now();
  const controller = new Controller({
    name: 'failing',
    reconciler: {
      async reconcile() {
        calls.push(performance.now() - started);
        if (calls.length <= failures) throw error();
      },
    },
  });
  return { controller, calls };
}

const conflictingController = (failures: number) =>
  failingController(failures, () => new KubeApiError(409, 'Conflict', 'the object has been modified', 'PATCH', '/x/status'));

test('a reconcile refused with 409 is not retried before the floor: the object\'s watch event brings the key back', async (t) => {
  const { controller, calls } = conflictingController(Infinity);
  controller.start();
  controller.enqueue('k');
  await sleep(300);
  t.is(calls.length, 1, `retried ${calls.length - 1} times within 300 ms; the informer cannot have caught up that often`);
  // The watch event of the object that won: the key runs now, not when the timer fires.
  controller.enqueue('k');
  await sleep(50);
  t.is(calls.length, 2);
  await controller.stop(1000);
});

test('with no watch event the timer retries it after the floor', async (t) => {
  const { controller, calls } = conflictingController(1);
  controller.start();
  controller.enqueue('k');
  await sleep(CONFLICT_RETRY_FLOOR_MS + 500);
  t.is(calls.length, 2);
  t.true(calls[1]! - calls[0]! >= CONFLICT_RETRY_FLOOR_MS * 0.99, `retried after ${Math.round(calls[1]! - calls[0]!)} ms`);
  await controller.stop(1000);
});

// Finding (chaos bench, 2,000 nodes and 8,000 replicas): the leader's Lease renewals took long enough on the
// loaded apiserver that its fence closed for a moment at most of them, and every key refused meanwhile
// was dropped as if the process were stepping down (7,606 ProviderNode keys in 11 minutes), while the
// process went on leading: those keys waited for an unrelated watch event.
const fencedController = (leadershipEnded: boolean) =>
  failingController(1, () => new NotLeaderError('the renew deadline passed 97 ms ago', leadershipEnded));

test('a key refused while the Lease renewal is late is tried again once the fence may have reopened', async (t) => {
  const { controller, calls } = fencedController(false);
  controller.start();
  controller.enqueue('k');
  await sleep(FENCE_CLOSED_RETRY_MS + 500);
  t.is(calls.length, 2, 'the key came back without any watch event');
  t.true(calls[1]! - calls[0]! >= FENCE_CLOSED_RETRY_MS * 0.99, `retried after ${Math.round(calls[1]! - calls[0]!)} ms`);
  await controller.stop(1000);
});

test('a key refused after leadership ended is left to the next leader', async (t) => {
  const { controller, calls } = fencedController(true);
  controller.start();
  controller.enqueue('k');
  await sleep(FENCE_CLOSED_RETRY_MS + 500);
  t.is(calls.length, 1);
  await controller.stop(1000);
});
