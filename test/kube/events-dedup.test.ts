// De-duplication of events, on a recording transport (the real-apiserver check is in
// idempotent-reconcile.test.ts).
import test from 'ava';
import { EventRecorder } from '../../operator/src/kube/events.js';
import { NO_FENCE, NotLeaderError } from '../../operator/src/kube/leader-election.js';
import { KubeApiError, type RestClient } from '../../operator/src/kube/rest.js';

function recorder(now: () => number, existing = new Set<string>()) {
  const posts: any[] = [];
  const client = {
    async request(method: string, path: string, options: { body: any }) {
      if (existing.has(options.body.metadata.name)) throw new KubeApiError(409, 'AlreadyExists', 'exists', method, path);
      existing.add(options.body.metadata.name);
      posts.push(options.body);
      return options.body;
    },
  } as unknown as RestClient;
  return { posts, rec: new EventRecorder({ client, fence: NO_FENCE, instance: 'me', windowMs: 1000, now }) };
}

const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns', uid: 'u1' } };
const ev = { type: 'Normal' as const, reason: 'Synced', action: 'Reconcile', message: 'all good' };

test('the same event for the same object within the window is emitted once', async (t) => {
  let now = 0;
  const { posts, rec } = recorder(() => now);
  t.true(await rec.record(obj, ev));
  now = 999;
  t.false(await rec.record(obj, ev));
  t.is(posts.length, 1);
  t.is(posts[0].reportingController, 'chrysalis.dev/operator');
  t.is(posts[0].regarding.uid, 'u1');
});

test('a different message, reason or object is a different event', async (t) => {
  const { posts, rec } = recorder(() => 0);
  await rec.record(obj, ev);
  await rec.record(obj, { ...ev, message: 'other' });
  await rec.record(obj, { ...ev, reason: 'Other' });
  await rec.record({ ...obj, metadata: { ...obj.metadata, name: 'cm2', uid: 'u2' } }, ev);
  t.is(posts.length, 4);
});

test('after the window the event is recorded again (if the server no longer has it)', async (t) => {
  let now = 0;
  const existing = new Set<string>();
  const { posts, rec } = recorder(() => now, existing);
  await rec.record(obj, ev);
  existing.clear(); // the server's event TTL expired it
  now = 1001;
  t.true(await rec.record(obj, ev));
  t.is(posts.length, 2);
});

test('an event another process already recorded (same name, 409) is not duplicated', async (t) => {
  const existing = new Set<string>();
  const first = recorder(() => 0, existing);
  await first.rec.record(obj, ev);
  const second = recorder(() => 0, existing);
  t.false(await second.rec.record(obj, ev));
  t.is(second.posts.length, 0);
});

test('a process that is not the leader records no event', async (t) => {
  const { posts } = recorder(() => 0);
  const client = { async request() { posts.push('sent'); } } as unknown as RestClient;
  const fenced = new EventRecorder({ client, fence: { assertLeader() { throw new NotLeaderError('no'); } }, instance: 'me' });
  await t.throwsAsync(fenced.record(obj, ev), { instanceOf: NotLeaderError });
  t.is(posts.length, 0);
});
