// What a replica's evidence must show about its host, by the host's topology (ProviderNode spec.topology).
//
//   node-cvm  The Node is the confidential VM: kubelet, node attester and every replica share one guest
//             with passthrough GPUs. A replica's CPU evidence is that guest's, so it must show the chip
//             (SEV-SNP CHIP_ID, TDX PCK PPID) and the launch measurement (SEV-SNP MEASUREMENT; the image
//             hash, which for TDX covers MRTD and RTMR0..3) of the host's last verified evidence. Evidence
//             of another guest or another machine is REPLICA_HOST_MISMATCH, even if it would pass the
//             policy on its own.
//   pod-cvm   Each replica Pod is its own CVM (Kata confidential runtime class) on the host's chip. Its
//             launch measurement is the pod VM's, not the node's: it is checked against the policy's
//             replicaMeasurements / replicaImageHashes, and the node lists do not apply (nor do the replica
//             lists to nodes). It must still run on the host's chip. The replica's CVM holds its GPUs, so
//             its GPU evidence must prove the host's GPU model and the Pod's GPU count.
//
// Pure; the service calls these around the verifier (service.ts replicaEvidence).
import type { AttestationPolicySpec } from '../../api/attestationpolicy.js';
import type { ProviderNode, ProviderNodeSpec, ProviderNodeStatusAttestation } from '../../api/providernode.js';
import type { Reason } from './protocol.js';
import type { AttestationClaims } from './service.js';

export type Topology = NonNullable<ProviderNodeSpec['topology']>;

/** The code of a replica whose evidence does not come from its host's guest or chip (a service code, like HOST_NOT_ATTESTED). */
export const REPLICA_HOST_MISMATCH = 'REPLICA_HOST_MISMATCH';

/** The host's topology; the CRD defaults it to node-cvm, and an object stored before the field existed means the same. */
export function topologyOf(pn: Pick<ProviderNode, 'spec'>): Topology {
  return pn.spec.topology ?? 'node-cvm';
}

const mismatch = (message: string): Reason => ({ code: REPLICA_HOST_MISMATCH, message });

/**
 * Why verified replica claims do not belong to the host whose last verified evidence is `host`; empty when
 * they do. Fails closed: a host that recorded no chip identity (or, for node-cvm, no image hash) cannot
 * vouch for any replica.
 */
export function replicaHostMismatch(topology: Topology, host: ProviderNodeStatusAttestation | undefined, replica: AttestationClaims, nodeName: string): Reason[] {
  const out: Reason[] = [];
  if (!host?.chipId) {
    out.push(mismatch(`node ${nodeName}'s verified evidence records no chip identity (SEV-SNP CHIP_ID or TDX PCK PPID), so no replica can be shown to run on it; the node must re-attest with evidence that carries one`));
  } else if (replica.chipId !== host.chipId) {
    out.push(mismatch(`the replica's CPU evidence comes from chip ${replica.chipId ?? '(none)'}, not from node ${nodeName}'s chip ${host.chipId}`));
  }
  if ((host?.simulated ?? false) !== replica.simulated) {
    out.push(mismatch(`the replica's evidence is ${replica.simulated ? '' : 'not '}simulated but node ${nodeName}'s is ${host?.simulated ? '' : 'not '}simulated`));
  }
  if (topology === 'pod-cvm') return out;
  if (!host?.imageHash) {
    out.push(mismatch(`node ${nodeName}'s verified evidence records no image hash to compare the replica's launch measurement with; the node must re-attest`));
  } else if (replica.imageHash !== host.imageHash) {
    out.push(mismatch(`node ${nodeName} is node-cvm, so its replicas run in its own guest, but the replica's image hash ${replica.imageHash ?? '(none)'} is not the node's ${host.imageHash} (another VM)`));
  }
  if (host?.measurement && replica.measurement !== host.measurement) {
    out.push(mismatch(`node ${nodeName} is node-cvm, but the replica's launch measurement ${replica.measurement ?? '(none)'} is not the node's ${host.measurement} (another VM)`));
  }
  return out;
}

/**
 * The policy a pod-cvm replica is verified against: the AttestationPolicy with replicaMeasurements and
 * replicaImageHashes in place of allowedMeasurements and allowedImageHashes. A policy with neither replica
 * list pins no pod VM image, and a pod-cvm replica is then refused (a reason), not admitted as any image.
 */
export function podCvmReplicaPolicy(spec: AttestationPolicySpec, policyName: string): { spec: AttestationPolicySpec } | { reason: Reason } {
  const { replicaMeasurements, replicaImageHashes, allowedMeasurements: _nodeMeasurements, allowedImageHashes: _nodeImages, ...rest } = spec;
  if (replicaMeasurements === undefined && replicaImageHashes === undefined) {
    return { reason: { code: 'MEASUREMENT_NOT_ALLOWED', message: `AttestationPolicy "${policyName}" has no replicaMeasurements or replicaImageHashes: a replica on a pod-cvm host is its own VM and its image must be pinned there (the node lists allowedMeasurements/allowedImageHashes do not apply to it)` } };
  }
  return {
    spec: {
      ...rest,
      ...(replicaMeasurements !== undefined ? { allowedMeasurements: replicaMeasurements } : {}),
      ...(replicaImageHashes !== undefined ? { allowedImageHashes: replicaImageHashes } : {}),
    },
  };
}

/** The GPUs a replica Pod asks for (its containers' limits of the GPU resource), which its pod-cvm VM must prove. */
export function podGpuCount(pod: { spec?: { containers?: Array<{ resources?: { limits?: Record<string, unknown> } }> } }, gpuResourceName: string): number {
  let total = 0;
  for (const c of pod.spec?.containers ?? []) {
    const n = Number(c.resources?.limits?.[gpuResourceName] ?? 0);
    if (Number.isInteger(n) && n > 0) total += n;
  }
  return total;
}
