// attestedReplicaKey: a replica's usage-signing key is the one the attestation service recorded on its
// host's ProviderNode status for exactly that Pod, and only until it expires.
import test from 'ava';
import type { ProviderNode, ProviderNodeStatusAttestedReplica } from '../../operator/src/api/providernode.js';
import { attestedReplicaKey, livePodKey, pruneAttestedReplicas, withAttestedReplica, withoutAttestedReplica } from '../../operator/src/attestation/service/replica-keys.js';

const NOW = new Date('2025-01-01T00:00:00Z');
const KEY = 'ab'.repeat(32);
const entry = (over: Partial<ProviderNodeStatusAttestedReplica> = {}): ProviderNodeStatusAttestedReplica => ({
  namespace: 'team', pod: 'llm-0', uid: 'uid-1', publicKey: KEY, expiresAt: '2025-01-01T01:00:00Z', ...over,
});
const host = (entries: ProviderNodeStatusAttestedReplica[], nodeName = 'gpu-1'): ProviderNode => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: nodeName },
  spec: { nodeName, tee: 'simulated', gpus: { model: 'H100', count: 1 }, payoutAddress: `0:${'ab'.repeat(32)}` },
  status: { attestedReplicas: entries },
} as ProviderNode);
const pod = (over: { namespace?: string; name?: string; uid?: string; nodeName?: string } = {}) => ({
  metadata: { namespace: over.namespace ?? 'team', name: over.name ?? 'llm-0', uid: over.uid ?? 'uid-1' },
  spec: { nodeName: over.nodeName ?? 'gpu-1' },
});

test('the key recorded for the same namespace, name and uid is returned with its expiry', (t) => {
  t.deepEqual(attestedReplicaKey(host([entry()]), pod(), NOW), { publicKey: KEY, expiresAt: new Date('2025-01-01T01:00:00Z') });
});

test('a later Pod of the same name does not inherit the key of the one before it', (t) => {
  t.is(attestedReplicaKey(host([entry()]), pod({ uid: 'uid-2' }), NOW), undefined);
});

test('a Pod of the same name in another namespace gets no key', (t) => {
  t.is(attestedReplicaKey(host([entry()]), pod({ namespace: 'other' }), NOW), undefined);
});

test('an expired entry gives no key, at and after its expiry', (t) => {
  t.is(attestedReplicaKey(host([entry()]), pod(), new Date('2025-01-01T01:00:00Z')), undefined);
  t.is(attestedReplicaKey(host([entry({ expiresAt: 'not a time' })]), pod(), NOW), undefined);
});

test('a ProviderNode of another node does not vouch for a Pod bound elsewhere', (t) => {
  t.is(attestedReplicaKey(host([entry()], 'gpu-2'), pod(), NOW), undefined);
});

test('no ProviderNode, no uid, a malformed key or a duplicated entry gives no key', (t) => {
  t.is(attestedReplicaKey(undefined, pod(), NOW), undefined);
  t.is(attestedReplicaKey(host([entry()]), { metadata: { namespace: 'team', name: 'llm-0' }, spec: { nodeName: 'gpu-1' } }, NOW), undefined);
  t.is(attestedReplicaKey(host([entry({ publicKey: 'AB'.repeat(32) })]), pod(), NOW), undefined);
  t.is(attestedReplicaKey(host([entry(), entry({ publicKey: 'cd'.repeat(32) })]), pod(), NOW), undefined);
});

test('writing the list prunes Pods that are gone, replaced or expired, and replaces the Pod\'s own entry', (t) => {
  const live = new Map([[livePodKey('team', 'llm-0'), 'uid-1'], [livePodKey('team', 'llm-1'), 'uid-new'], [livePodKey('team', 'llm-3'), 'uid-3']]);
  const before = [
    entry(),
    entry({ pod: 'llm-1', uid: 'uid-old' }), // replaced by a Pod of the same name
    entry({ pod: 'llm-2', uid: 'uid-2' }), // gone
    entry({ pod: 'llm-3', uid: 'uid-3', expiresAt: '2024-12-31T23:59:59Z' }), // expired
  ];
  t.deepEqual(pruneAttestedReplicas(before, live, NOW), [entry()]);
  const fresh = entry({ publicKey: 'cd'.repeat(32), expiresAt: '2025-01-01T02:00:00Z' });
  t.deepEqual(withAttestedReplica(before, fresh, live, NOW), [fresh]);
  t.deepEqual(withoutAttestedReplica(before, 'team', 'llm-0', live, NOW), []);
});
