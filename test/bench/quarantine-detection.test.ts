// The chaos bench's account of how each quarantined host was found: its own re-check's due time comes
// from its last verification and its phase, a replica failure counts only between the fault and that
// due time, and the summary refuses to report while a host is not refused yet.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { reattestationDueAt } from '../../operator/src/controllers/providernode/plan.js';
import { quarantinedHosts, summarizeDetection } from './_quarantine-detection.js';

const FAULT = Date.parse('2026-12-06T12:00:00.000Z');
const INTERVAL = 60;

function host(name: string, verifiedAt: number, replicaFailureAt?: number): ProviderNode {
  return {
    metadata: { name: `pn-${name}` },
    spec: { nodeName: name },
    status: { attestation: { verifiedAt: new Date(verifiedAt).toISOString(), ...(replicaFailureAt !== undefined ? { replicaFailure: { pod: 'chaos/r', code: 'GPU_CC_DISABLED', at: new Date(replicaFailureAt).toISOString() } } : {}) } },
  } as unknown as ProviderNode;
}

test('due time from the host\'s phase; a replica failure between the fault and that time counts, one before or after does not', (t) => {
  const verified = FAULT - 5_000;
  const due = (name: string) => reattestationDueAt(verified, INTERVAL, `pn-${name}`) - FAULT;
  const atFault = ['a', 'b', 'c', 'd'].map((n) => host(n, verified));
  const atEnd = [
    host('a', verified, FAULT + 1_000), // found through its replica
    host('b', verified), // no replica failure: its own re-check
    host('c', verified, FAULT - 1_000), // a failure from before the fault
    host('d', verified, FAULT + due('d') + 1), // after its own re-check was due
  ];
  const refused = new Map([['a', FAULT + 3_000], ['b', FAULT + 40_000], ['c', FAULT + 50_000], ['d', FAULT + 55_000]]);
  const hosts = quarantinedHosts(['a', 'b', 'c', 'd'], atFault, atEnd, FAULT, refused, INTERVAL);
  // Their names' phases put the due times 3.1 s, 38.1 s, -3.8 s (already due: 0) and 50.8 s after the fault.
  t.deepEqual(hosts.map((h) => h.dueAfterFaultMs), [3_115, 38_111, 0, 50_767]);
  t.deepEqual(hosts.map((h) => h.dueAfterFaultMs), ['a', 'b', 'c', 'd'].map((n) => Math.max(0, due(n))));
  t.deepEqual(hosts.map((h) => h.throughReplica), [true, false, false, false]);
  t.deepEqual(hosts.map((h) => h.refusedAfterFaultMs), [3_000, 40_000, 50_000, 55_000]);
  for (const h of hosts) t.true(h.dueAfterFaultMs <= INTERVAL * 1000 - 5_000, 'due no later than one interval after the verification');
});

test('the summary: p50 and max of refused and due, and how much earlier the hosts found through a replica were refused', (t) => {
  const summary = summarizeDetection([
    { node: 'a', dueAfterFaultMs: 50_000, refusedAfterFaultMs: 4_000, throughReplica: true },
    { node: 'b', dueAfterFaultMs: 30_000, refusedAfterFaultMs: 32_000, throughReplica: false },
    { node: 'c', dueAfterFaultMs: 58_000, refusedAfterFaultMs: 10_000, throughReplica: true },
  ]);
  t.deepEqual(summary, { hosts: 3, throughReplica: 2, refusedP50Seconds: 10, refusedMaxSeconds: 32, dueP50Seconds: 50, dueMaxSeconds: 58, earlierP50Seconds: 46 });
});

test('a host not verified at the fault, or not refused at the end, is an error, not a figure', (t) => {
  t.throws(() => quarantinedHosts(['x'], [], [], FAULT, new Map(), INTERVAL), { message: /quarantined host x was not verified/ });
  t.throws(() => summarizeDetection([{ node: 'a', dueAfterFaultMs: 1, refusedAfterFaultMs: undefined, throughReplica: false }]), { message: /every quarantined host must have been refused/ });
});
