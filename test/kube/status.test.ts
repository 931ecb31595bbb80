import test from 'ava';
import { isSubset, statusEqual } from '../../operator/src/kube/status.js';

const cond = (status: string, time: string) => ({ type: 'Ready', status, reason: 'R', message: 'm', lastTransitionTime: time });

test('statuses differing only in a condition\'s lastTransitionTime are equal', (t) => {
  t.true(statusEqual({ conditions: [cond('True', 't0')], x: 1 }, { x: 1, conditions: [cond('True', 't1')] }));
});

test('a changed condition status is a change', (t) => {
  t.false(statusEqual({ conditions: [cond('True', 't0')] }, { conditions: [cond('False', 't0')] }));
});

test('lastTransitionTime outside a conditions list is compared', (t) => {
  t.false(statusEqual({ lastTransitionTime: 'a' }, { lastTransitionTime: 'b' }));
});

test('an absent field and an undefined field are equal; key order does not matter', (t) => {
  t.true(statusEqual({ a: 1, b: undefined }, { a: 1 }));
  t.true(statusEqual({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }));
  t.true(statusEqual(undefined, {}));
});

test('array order and length matter', (t) => {
  t.false(statusEqual({ a: [1, 2] }, { a: [2, 1] }));
  t.false(statusEqual({ a: [1] }, { a: [1, 1] }));
  t.false(statusEqual({ a: [] }, { a: {} }));
});

test('isSubset ignores fields the server added but not changed values', (t) => {
  t.true(isSubset({ data: { a: '1' } }, { data: { a: '1', b: '2' }, metadata: { uid: 'x' } }));
  t.false(isSubset({ data: { a: '1' } }, { data: { a: '2' } }));
  t.false(isSubset({ data: { a: '1' } }, {}));
  t.true(isSubset({ list: [{ name: 'a' }] }, { list: [{ name: 'a', default: true }] }));
  t.false(isSubset({ list: [{ name: 'a' }] }, { list: [{ name: 'a' }, { name: 'b' }] }));
});
