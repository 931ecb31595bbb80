// Finding: each write to a host's replica lists asked the apiserver whether every other Pod named there
// still existed, unless it had read that Pod in the last 30 s: where the service runs alone (as the chart
// runs it) these were most of its requests — 45 to 147 Pod GETs a second against 15 to 57 status writes
// in the chaos bench at 8,000 replicas. An entry of a Pod that is gone grants nothing (every use is for
// exactly its Pod's uid), so it may wait for its expiry: the reads are made only when the lists name more
// Pods than the host has GPUs, and an expired entry is never read for.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { RecentPods } from '../../operator/src/attestation/service/recent-pods.js';
import { ReplicaReads } from '../../operator/src/attestation/service/replica-reads.js';
import { pruneAttestedReplicas, type PodEntry } from '../../operator/src/attestation/service/replica-keys.js';
import { KubeApiError, type RestClient } from '../../operator/src/kube/rest.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const later = new Date(NOW.getTime() + 600_000).toISOString();
const earlier = new Date(NOW.getTime() - 1_000).toISOString();

const pod = (name: string, uid: string): V1Pod => ({ metadata: { namespace: 'ns', name, uid }, spec: { nodeName: 'gpu-0', containers: [] } });
const entry = (name: string, uid: string, expiresAt = later): PodEntry => ({ namespace: 'ns', pod: name, uid, expiresAt });

/** An apiserver holding `pods` (name → uid), counting the Pod GETs it answers. */
function apiserver(pods: Record<string, string>) {
  const gets: string[] = [];
  const rest = {
    request: async (method: string, path: string) => {
      const name = /\/pods\/([^/]+)$/.exec(path)?.[1];
      if (method !== 'GET' || !name) throw new Error(`unexpected ${method} ${path}`);
      gets.push(name);
      if (!pods[name]) throw new KubeApiError(404, 'NotFound', `pods "${name}" not found`, method, path);
      return pod(name, pods[name]);
    },
  } as unknown as RestClient;
  return { rest, gets };
}

test('with room on the host, neighbours the service has no copy of are kept unread', async (t) => {
  // llm-2 is gone from the apiserver: its entry grants nothing and stays until it expires or room is needed.
  const api = apiserver({ 'llm-0': 'u0', 'llm-1': 'u1' });
  const reads = new ReplicaReads(api.rest, { pools: { get: () => undefined }, recentPods: new RecentPods(() => NOW.getTime()) });
  const entries = [entry('llm-1', 'u1'), entry('llm-2', 'u2')];
  const live = await reads.livePods(entries, pod('llm-0', 'u0'), NOW, 8);
  t.deepEqual(api.gets, []);
  t.deepEqual(pruneAttestedReplicas(entries, live, NOW).map((e) => e.pod), ['llm-1', 'llm-2']);
});

test('an expired entry is pruned without a read', async (t) => {
  const api = apiserver({ 'llm-0': 'u0', 'llm-1': 'u1' });
  const reads = new ReplicaReads(api.rest, { pools: { get: () => undefined }, recentPods: new RecentPods(() => NOW.getTime()) });
  const entries = [entry('llm-1', 'u1', earlier)];
  // Crowded (room 1) so that an unexpired entry would be read: the expired one is not.
  const live = await reads.livePods(entries, pod('llm-0', 'u0'), NOW, 1);
  t.deepEqual(api.gets, []);
  t.deepEqual(pruneAttestedReplicas(entries, live, NOW), []);
});

test('when the lists name more Pods than the host has GPUs, each neighbour without a copy is read, and the gone or replaced are pruned', async (t) => {
  const api = apiserver({ 'llm-0': 'u0', 'llm-1': 'u1', 'llm-3': 'u3-new' });
  const recent = new RecentPods(() => NOW.getTime());
  recent.remember(pod('llm-4', 'u4'));
  const reads = new ReplicaReads(api.rest, { pools: { get: () => undefined }, recentPods: recent });
  const entries = [entry('llm-1', 'u1'), entry('llm-2', 'u2'), entry('llm-3', 'u3-old'), entry('llm-4', 'u4')];
  const live = await reads.livePods(entries, pod('llm-0', 'u0'), NOW, 2);
  t.deepEqual(api.gets.sort(), ['llm-1', 'llm-2', 'llm-3'], 'llm-4 was read moments ago: its copy answers');
  t.deepEqual(pruneAttestedReplicas(entries, live, NOW).map((e) => e.pod), ['llm-1', 'llm-4']);
});
