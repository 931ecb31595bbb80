// How the chaos bench's quarantined hosts were found. A host whose GPUs leave CC mode is caught at its
// next re-check, due on its own phase of the re-attestation interval (providernode/plan.ts
// reattestationDueAt), unless one of its replicas renews first: the replica's evidence, read from the
// same GPUs, fails, the service records that on the host (status.attestation.replicaFailure), and the
// controller challenges the host at once (HostSuspect). For each host this says when its own re-check
// was due and when it was refused, both from the fault, and whether a replica's failure came first — so
// the early re-check's gain is measured against the schedule it replaced, in the same run.
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { reattestationDueAt } from '../../operator/src/controllers/providernode/plan.js';
import { percentile } from './_stats.js';

export interface QuarantinedHost {
  node: string;
  /** When the host's own re-check fell due, from the fault (0 when it was already due). */
  dueAfterFaultMs: number;
  /** When the bench first saw it refused (not Attested, or Quarantined), from the fault; undefined: never. */
  refusedAfterFaultMs: number | undefined;
  /** A replica's failure on the host's state was recorded after the fault and before that due time. */
  throughReplica: boolean;
}

const ms = (t: string | undefined) => (t === undefined ? NaN : Date.parse(t));

/**
 * Each quarantined host (by spec.nodeName), from its ProviderNode when the fault was injected (its last
 * verification sets the due time) and at the end (the replica failure recorded on it), with the times
 * the bench saw each refused.
 */
export function quarantinedHosts(
  quarantined: readonly string[],
  atFault: readonly ProviderNode[],
  atEnd: readonly ProviderNode[],
  faultAtMs: number,
  refusedAtMs: ReadonlyMap<string, number>,
  reattestSeconds: number,
): QuarantinedHost[] {
  const byNode = (list: readonly ProviderNode[]) => new Map(list.map((pn) => [pn.spec.nodeName, pn]));
  const before = byNode(atFault);
  const after = byNode(atEnd);
  return quarantined.map((node) => {
    const pn = before.get(node);
    const verifiedAt = ms(pn?.status?.attestation?.verifiedAt);
    if (!pn || Number.isNaN(verifiedAt)) throw new Error(`quarantined host ${node} was not verified when the fault was injected`);
    const dueAt = reattestationDueAt(verifiedAt, reattestSeconds, pn.metadata?.name ?? node);
    const failureAt = ms(after.get(node)?.status?.attestation?.replicaFailure?.at);
    const refusedAt = refusedAtMs.get(node);
    return {
      node,
      dueAfterFaultMs: Math.max(0, dueAt - faultAtMs),
      refusedAfterFaultMs: refusedAt === undefined ? undefined : refusedAt - faultAtMs,
      // The service's clock is this machine's, in milliseconds.
      throughReplica: failureAt >= faultAtMs && failureAt < dueAt,
    };
  });
}

export interface DetectionSummary {
  hosts: number;
  throughReplica: number;
  /** Fault → refused, seconds, p50 and max over the hosts (every host refused). */
  refusedP50Seconds: number;
  refusedMaxSeconds: number;
  /** Fault → the host's own re-check due, seconds, p50 and max: when they would have been found without replicas. */
  dueP50Seconds: number;
  dueMaxSeconds: number;
  /** For hosts found through a replica: how much earlier than their own due time they were refused, p50, seconds. */
  earlierP50Seconds: number;
}

const sec = (msValue: number) => Math.round(msValue / 100) / 10;

export function summarizeDetection(hosts: readonly QuarantinedHost[]): DetectionSummary {
  const refused = hosts.map((h) => h.refusedAfterFaultMs);
  if (refused.some((r) => r === undefined)) throw new Error('every quarantined host must have been refused before the detection is summarized');
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  const refusedSorted = sorted(refused as number[]);
  const dueSorted = sorted(hosts.map((h) => h.dueAfterFaultMs));
  const early = hosts.filter((h) => h.throughReplica);
  const earlier = sorted(early.map((h) => h.dueAfterFaultMs - h.refusedAfterFaultMs!));
  return {
    hosts: hosts.length,
    throughReplica: early.length,
    refusedP50Seconds: sec(percentile(refusedSorted, 50)),
    refusedMaxSeconds: sec(refusedSorted.at(-1) ?? NaN),
    dueP50Seconds: sec(percentile(dueSorted, 50)),
    dueMaxSeconds: sec(dueSorted.at(-1) ?? NaN),
    earlierP50Seconds: sec(percentile(earlier, 50)),
  };
}
