// The fence's timing rules, on an in-memory Lease and an adjustable clock. The same properties are
// checked against the real apiserver with real processes in leader-election.test.ts.
import test from 'ava';
import { LeaderElector, NotLeaderError } from '../../operator/src/kube/leader-election.js';
import { FakeLeaseApi } from './fake-lease-api.js';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timing = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 50 };

const running: LeaderElector[] = [];
function elector(api: FakeLeaseApi, identity: string, clock: { skew: number }, link = { down: false }, times = timing) {
  const e = new LeaderElector({ client: api.asClient(link), namespace: 'ns', name: 'lease', identity, ...times, now: () => performance.now() + clock.skew });
  running.push(e);
  return e;
}
test.afterEach.always(async () => {
  for (const e of running.splice(0)) await e.stop();
});

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await delay(10);
  }
}

test.serial('a renew deadline that is not shorter than the lease duration is refused', (t) => {
  const api = new FakeLeaseApi();
  t.throws(() => new LeaderElector({ client: api.asClient(), namespace: 'n', name: 'l', leaseDurationMs: 1000, renewDeadlineMs: 1000 }));
});

test.serial('a process that never acquired the lease cannot write', async (t) => {
  const api = new FakeLeaseApi();
  const e = elector(api, 'a', { skew: 0 });
  let ran = false;
  const refused = await t.throwsAsync(e.fencedWrite(async () => { ran = true; }), { instanceOf: NotLeaderError });
  t.false(ran);
  t.true(refused?.leadershipEnded, 'a process that never led has no leadership to resume');
});

test.serial('a leader whose clock jumps past the renew deadline (a pause) is fenced before its next write', async (t) => {
  const api = new FakeLeaseApi();
  const clock = { skew: 0 };
  const e = elector(api, 'a', clock);
  let stopped = '';
  void e.run({ onStartedLeading() {}, onStoppedLeading(reason) { stopped = reason; } });
  await until(() => e.isLeader());
  t.notThrows(() => e.assertLeader());
  clock.skew += timing.renewDeadlineMs; // as if SIGSTOPped for the renew deadline
  let ran = false;
  const late = await t.throwsAsync(e.fencedWrite(async () => { ran = true; }), { instanceOf: NotLeaderError });
  t.false(ran, 'the write function never ran');
  // Until the elector's loop sees it, the Lease is still this process's and only its renewal is late:
  // a controller tries the key again rather than leaving it to a next leader that may be itself.
  t.false(late?.leadershipEnded, 'refused while the renewal is late, leadership not yet ended');
  await until(() => stopped !== '');
  t.is(stopped, 'lost');
  clock.skew = 0; // even if time looked fine again, losing is final
  t.false(e.isLeader());
  t.true(t.throws(() => e.assertLeader(), { instanceOf: NotLeaderError })?.leadershipEnded, 'refused once lost: leadership ended');
});

test.serial('a leader that cannot reach the apiserver stops being leader at the renew deadline, before the lease expires for others', async (t) => {
  const api = new FakeLeaseApi();
  const e = elector(api, 'a', { skew: 0 });
  void e.run({ onStartedLeading() {}, onStoppedLeading() {} });
  await until(() => e.isLeader());
  api.failAll = true;
  const cut = performance.now(); // every renew that succeeded was sent before this
  // Checked on the clock, not by how soon a poll noticed: once the renew deadline has passed since the
  // cut, by however much a loaded machine overshoots, the elector is no longer leader — and the deadline
  // is shorter than the lease others wait out.
  await until(() => performance.now() - cut >= timing.renewDeadlineMs);
  t.false(e.isLeader(), 'not leader once the renew deadline passed without a renew');
  t.throws(() => e.assertLeader(), { instanceOf: NotLeaderError });
  t.true(timing.renewDeadlineMs < timing.leaseDurationMs);
});

test.serial('a candidate takes a held lease only after seeing it unchanged for the lease duration', async (t) => {
  // Seconds, not the file's fast timing: while a renews, b must not take over, and a renews only if its
  // event loop runs within the renew deadline; a loaded machine can stall one for hundreds of ms.
  const patient = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 50 };
  const api = new FakeLeaseApi();
  const aLink = { down: false };
  const a = elector(api, 'a', { skew: 0 }, aLink, patient);
  void a.run({ onStartedLeading() {}, onStoppedLeading() {} });
  await until(() => a.isLeader());
  const b = elector(api, 'b', { skew: 0 }, undefined, patient);
  void b.run({ onStartedLeading() {}, onStoppedLeading() {} });
  await delay(patient.leaseDurationMs * 1.5);
  t.false(b.isLeader(), 'a renews, so b never takes over');
  aLink.down = true; // a is cut off from the apiserver; b is not
  await until(() => b.isLeader(), 60_000);
  // Measured from a's last renew as stored, not from when the test cut a off: b saw that renew no
  // earlier than it was stored, and waits the lease duration from there, however late a renewed last.
  const lastRenewByA = api.writes.filter((w) => w.holder === 'a').at(-1)!.at;
  const takeover = api.writes.find((w) => w.holder === 'b')!.at;
  t.true(takeover - lastRenewByA >= patient.leaseDurationMs, `took over ${takeover - lastRenewByA} ms after a's last renew`);
  t.is(api.lease?.spec.holderIdentity, 'b');
  t.is(api.lease?.spec.leaseTransitions, 1);
  t.false(a.isLeader(), 'a fenced itself (at its renew deadline) before b took over');
});

test.serial('stop releases the lease so a successor acquires at its next retry', async (t) => {
  // A lease far longer than the wait below: b can only become leader by finding the lease released,
  // never by waiting it out, so no wall-clock bound is needed to tell the two apart.
  const longLease = { leaseDurationMs: 600_000, renewDeadlineMs: 400_000, retryPeriodMs: 50 };
  const api = new FakeLeaseApi();
  const a = elector(api, 'a', { skew: 0 }, undefined, longLease);
  void a.run({ onStartedLeading() {}, onStoppedLeading() {} });
  await until(() => a.isLeader());
  const b = elector(api, 'b', { skew: 0 }, undefined, longLease);
  void b.run({ onStartedLeading() {}, onStoppedLeading() {} });
  await delay(100);
  await a.stop();
  t.false(a.isLeader());
  t.is(api.lease?.spec.holderIdentity, undefined);
  await until(() => b.isLeader(), 60_000);
  await b.stop();
});

test.serial('a leader renews with one conditioned write, and a Lease changed behind its back is read and lost', async (t) => {
  const api = new FakeLeaseApi();
  const e = elector(api, 'a', { skew: 0 });
  let stopped = '';
  void e.run({ onStartedLeading() {}, onStoppedLeading(reason) { stopped = reason; } });
  await until(() => e.isLeader());
  const acquiredAfter = api.methods.length;
  await until(() => api.methods.length >= acquiredAfter + 4);
  // A read before each renewal doubled its time on a loaded apiserver; the write is conditioned on the
  // leader's own last write, so it succeeds only if the read would have shown the Lease unchanged.
  t.deepEqual(api.methods.slice(acquiredAfter, acquiredAfter + 4), ['PUT', 'PUT', 'PUT', 'PUT']);
  t.true(e.isLeader());
  // Someone else writes the Lease: the next renewal is refused (409), the elector reads it and steps down.
  const lease = api.lease!;
  await api.request('PUT', '', { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } }, { down: false });
  await until(() => stopped !== '');
  t.is(stopped, 'lost');
  t.false(e.isLeader());
  const afterTakeover = api.methods.slice(api.methods.lastIndexOf('PUT') - 1);
  t.deepEqual(afterTakeover.slice(-2), ['PUT', 'GET'], 'the refused renewal is followed by a read, which shows the new holder');
});
