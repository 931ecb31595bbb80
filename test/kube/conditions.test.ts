import test from 'ava';
import { getCondition, isTrue, setCondition, toKubeTime, type Condition } from '../../operator/src/kube/conditions.js';

const t0 = new Date('2025-01-01T00:00:00.123Z');
const t1 = new Date('2025-01-01T01:00:00Z');
const ready = (status: Condition['status'], reason = 'R', message = 'm', observedGeneration?: number) =>
  ({ type: 'Ready', status, reason, message, ...(observedGeneration !== undefined ? { observedGeneration } : {}) });

const table: Array<[string, Condition[] | undefined, ReturnType<typeof ready>, string]> = [
  ['a new condition gets the current time', undefined, ready('True'), toKubeTime(t1)],
  ['the same status keeps the old transition time', [{ ...ready('True'), lastTransitionTime: toKubeTime(t0) }], ready('True'), toKubeTime(t0)],
  ['a new reason or message alone keeps the old transition time', [{ ...ready('True'), lastTransitionTime: toKubeTime(t0) }], ready('True', 'Other', 'changed', 4), toKubeTime(t0)],
  ['a status change moves the transition time', [{ ...ready('True'), lastTransitionTime: toKubeTime(t0) }], ready('False'), toKubeTime(t1)],
  ['Unknown to True is a transition', [{ ...ready('Unknown'), lastTransitionTime: toKubeTime(t0) }], ready('True'), toKubeTime(t1)],
];

for (const [title, before, input, expectedTime] of table) {
  test(title, (t) => {
    const after = setCondition(before, input, t1);
    const c = getCondition(after, 'Ready');
    t.is(c?.lastTransitionTime, expectedTime);
    t.is(c?.status, input.status);
    t.is(c?.reason, input.reason);
    t.is(c?.message, input.message);
    t.is(c?.observedGeneration, input.observedGeneration);
  });
}

test('setCondition does not modify its input and keeps the order of other conditions', (t) => {
  const before: Condition[] = [
    { type: 'A', status: 'True', reason: 'x', message: '', lastTransitionTime: toKubeTime(t0) },
    { type: 'Ready', status: 'False', reason: 'x', message: '', lastTransitionTime: toKubeTime(t0) },
    { type: 'B', status: 'True', reason: 'x', message: '', lastTransitionTime: toKubeTime(t0) },
  ];
  const copy = structuredClone(before);
  const after = setCondition(before, ready('True'), t1);
  t.deepEqual(before, copy);
  t.deepEqual(after.map((c) => c.type), ['A', 'Ready', 'B']);
  t.true(isTrue(after, 'Ready'));
  t.false(isTrue(before, 'Ready'));
});

test('times are written with second precision as metav1.Time reads them back', (t) => {
  t.is(toKubeTime(t0), '2025-01-01T00:00:00Z');
});
