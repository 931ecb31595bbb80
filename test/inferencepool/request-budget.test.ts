// The replica request budget: never more than maxInFlight at once, bindings before creates before
// Events, arrival order within a priority, and Events capped and deferred while replica requests wait
// or are in flight.
import test from 'ava';
import { RequestBudget, type RequestPriority } from '../../operator/src/controllers/inferencepool/request-budget.js';

/** A request that finishes when the test says so. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((r) => { open = r; });
  return { done, open };
}

const tick = () => new Promise((r) => setImmediate(r));

test('never more than maxInFlight requests at once', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 3 });
  let running = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 20 }, (_, i) => budget.run(i % 2 ? 'bind' : 'create', async () => {
    running++;
    peak = Math.max(peak, running);
    await tick();
    running--;
  })));
  t.is(peak, 3);
  t.is(budget.inFlight, 0);
});

test('waiting bindings go before waiting creates, each in arrival order, and Events last', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 1 });
  const started: string[] = [];
  const blocker = gate();
  const first = budget.run('create', () => blocker.done);
  const queued: Array<[RequestPriority, string]> = [['event', 'e1'], ['create', 'c1'], ['bind', 'b1'], ['create', 'c2'], ['bind', 'b2'], ['event', 'e2']];
  const all = queued.map(([p, name]) => budget.run(p, async () => { started.push(name); await tick(); }));
  t.deepEqual(budget.queued, { bind: 2, create: 2, event: 2 });
  blocker.open();
  await Promise.all([first, ...all]);
  t.deepEqual(started, ['b1', 'b2', 'c1', 'c2', 'e1', 'e2']);
});

test('an Event does not start while a replica request waits, even with a free slot for it', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 2 });
  const a = gate();
  const b = gate();
  const c = gate();
  const started: string[] = [];
  const p1 = budget.run('create', () => a.done);
  const p2 = budget.run('create', () => b.done);
  const p3 = budget.run('create', async () => { started.push('c3'); await c.done; });
  const p4 = budget.run('event', async () => { started.push('e1'); });
  a.open();
  await p1;
  await tick();
  // The slot a freed went to the waiting create, not to the Event that waited too.
  t.deepEqual(started, ['c3']);
  b.open();
  await p2;
  await tick();
  // Nothing waits now, but c3 is still in flight: the Event still waits for it.
  t.deepEqual(started, ['c3']);
  c.open();
  await p3;
  await tick();
  // No replica request waits or runs: the Event goes.
  t.deepEqual(started, ['c3', 'e1']);
  await p4;
});

test('an Event does not start while a replica request is in flight, and starts when the last one ends', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 8 });
  const a = gate();
  const b = gate();
  const started: string[] = [];
  const p1 = budget.run('bind', () => a.done);
  const p2 = budget.run('create', () => b.done);
  const p3 = budget.run('event', async () => { started.push('e1'); });
  await tick();
  t.deepEqual(started, []);
  t.deepEqual(budget.queued, { bind: 0, create: 0, event: 1 });
  a.open();
  await p1;
  await tick();
  t.deepEqual(started, []);
  b.open();
  await p2;
  await p3;
  t.deepEqual(started, ['e1']);
  t.is(budget.inFlight, 0);
});

test('Events take at most maxEvents slots, leaving the rest to replica requests', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 10, maxEvents: 2 });
  const events = Array.from({ length: 5 }, () => gate());
  const runs = events.map((g) => budget.run('event', () => g.done));
  await tick();
  t.is(budget.inFlight, 2);
  t.is(budget.queued.event, 3);
  // A binding starts at once next to them.
  let bound = false;
  await budget.run('bind', async () => { bound = true; });
  t.true(bound);
  for (const g of events) g.open();
  await Promise.all(runs);
  t.is(budget.inFlight, 0);
});

test('a failing request frees its slot and passes the error on', async (t) => {
  const budget = new RequestBudget({ maxInFlight: 1 });
  await t.throwsAsync(budget.run('bind', async () => { throw new Error('409 Conflict'); }), { message: '409 Conflict' });
  t.is(budget.inFlight, 0);
  t.is(await budget.run('create', async () => 'next'), 'next');
});

test('sizes must be whole numbers of at least 1', (t) => {
  t.throws(() => new RequestBudget({ maxInFlight: 0 }), { instanceOf: RangeError });
  t.throws(() => new RequestBudget({ maxInFlight: 4, maxEvents: 1.5 }), { instanceOf: RangeError });
});
