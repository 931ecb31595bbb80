// The Pods the attestation service read lately (recent-pods.ts): a Pod stands for itself only under its own
// uid and only within POD_MEMORY_MS, is kept cut down and apart from the object it was given, and the
// memory is bounded.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { MAX_REMEMBERED_PODS, POD_MEMORY_MS, RecentPods } from '../../operator/src/attestation/service/recent-pods.js';

const pod = (name: string, uid: string): V1Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { namespace: 'ml', name, uid, annotations: { big: 'x'.repeat(1000) }, labels: { 'chrysalis.dev/pool': 'llm' } },
  spec: { nodeName: 'gpu-1', serviceAccountName: 'llm', containers: [{ name: 'c', image: 'i', resources: { limits: { 'nvidia.com/gpu': '2' } } }] },
});

test('a Pod is answered under its own uid while it is recent, then forgotten', (t) => {
  let now = 1_000_000;
  const recent = new RecentPods(() => now);
  const read = pod('llm-0', 'u1');
  recent.remember(read);
  t.is(recent.get('ml', 'llm-0', 'u1')?.spec?.serviceAccountName, 'llm');
  t.is(recent.get('ml', 'llm-0', 'u2'), undefined, 'another Pod of the name');
  t.is(recent.get('ml', 'llm-1', 'u1'), undefined);
  now += POD_MEMORY_MS;
  t.truthy(recent.get('ml', 'llm-0', 'u1'));
  now += 1;
  t.is(recent.get('ml', 'llm-0', 'u1'), undefined, 'too old');
  recent.remember(read);
  recent.forget('ml', 'llm-0');
  t.is(recent.get('ml', 'llm-0', 'u1'), undefined, 'read as gone');
});

test('the kept copy is cut down and apart from the object given', (t) => {
  const recent = new RecentPods(() => 0);
  const read = pod('llm-0', 'u1');
  recent.remember(read);
  const kept = recent.get('ml', 'llm-0', 'u1')!;
  t.is(kept.metadata?.annotations, undefined);
  t.is(read.metadata?.annotations?.big?.length, 1000, 'the caller\'s object is not cut');
  read.spec!.nodeName = 'elsewhere';
  t.is(kept.spec?.nodeName, 'gpu-1');
});

test('the memory is bounded: the oldest Pod goes first', (t) => {
  const recent = new RecentPods(() => 0);
  for (let i = 0; i <= MAX_REMEMBERED_PODS; i++) recent.remember(pod(`p-${i}`, `u-${i}`));
  t.is(recent.get('ml', 'p-0', 'u-0'), undefined);
  t.truthy(recent.get('ml', 'p-1', 'u-1'));
  t.truthy(recent.get('ml', `p-${MAX_REMEMBERED_PODS}`, `u-${MAX_REMEMBERED_PODS}`));
});
