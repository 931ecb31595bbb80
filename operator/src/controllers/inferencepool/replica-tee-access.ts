// How a replica Pod reaches its TEE, by the host's topology (ProviderNode spec.topology). Pure.
//
//   node-cvm  The Node is the confidential VM: the replica runs in the node's own guest, with no runtime
//             class of its own (a Kata class there would nest a VM the node's evidence does not cover).
//             Its attester sidecar asks the guest's configfs-tsm for the CPU report, so that directory
//             is mounted from the host; configfs-tsm report entries are root-owned, so the sidecar runs
//             as uid 0, still with every capability dropped, no privilege escalation and a read-only
//             root filesystem. The inference server stays non-root.
//   pod-cvm   Each replica is its own confidential VM: the Pod gets config.runtimeClassByTee[tee] (a Kata
//             confidential class) and its sidecar reads configfs-tsm inside that VM. No host path: the
//             host's configfs is not the replica's TEE. A TEE with no class configured gets none, and such
//             a replica cannot produce TEE evidence, so it is never attested (fail closed).
//             The service requires that VM's evidence to prove the Pod's GPUs, so the sidecar reads them
//             through NVML without asking for GPUs of its own (a second request would allocate other
//             devices): it sets NVIDIA_VISIBLE_DEVICES=all and NVIDIA_DRIVER_CAPABILITIES=utility, and
//             the NVIDIA container toolkit in the guest gives it the device nodes and libnvidia-ml. In a
//             per-replica VM "all" is exactly the GPUs passed through for this Pod's request (the server
//             container's limit), so it sees no other Pod's; on node-cvm it would be every GPU of the
//             node, so it is never set there.
//   A host whose tee is 'simulated':
//     node-cvm  Its "TEE" is a simulated configfs-tsm device at the host's configfs-tsm path (on the test
//               harness's real node, dev/cluster/simulated-tsm.ts), which the node attester reads like
//               hardware. The replica reads it the same way (the mount and uid 0 above, --tee tsm), so its
//               CPU evidence comes from the node's own simulated chip: the service's host comparison
//               (replica-topology.ts) passes, the verifier still flags it simulated, and only a policy
//               with allowSimulated that trusts that simulated root admits it. A simulated source in the
//               sidecar itself would make a fresh root of its own: another chip, REPLICA_HOST_MISMATCH.
//               --gpu none: the service asks a node-cvm replica for no GPU evidence (no declared GPUs,
//               no expected count; the node attester already proved the guest's GPUs), and the policy's
//               gpu fields apply only to GPU reports that are sent.
//     pod-cvm   The sidecar uses the simulated sources (--tee simulated --gpu simulated): no runtime class,
//               no host path. Only kwok hosts are simulated pod-cvm, and they run no containers.
import type { OperatorConfig } from '../../config.js';
import type { ProviderNodeSpec } from '../../api/providernode.js';
import type { TeeType } from '../../placement/index.js';

export type Topology = NonNullable<ProviderNodeSpec['topology']>;

/** Where the sidecar sees the host's configfs-tsm (config.tsmHostPath; a path the container can mount on). */
export const TSM_MOUNT_PATH = '/run/chrysalis/tsm';
export const TSM_VOLUME = 'tsm';

export interface ReplicaTeeAccess {
  runtimeClassName?: string;
  /** Extra attester arguments. */
  attesterArgs: string[];
  /** Replaces fields of the attester container's securityContext. */
  attesterSecurity: Record<string, unknown>;
  attesterMounts: Array<Record<string, unknown>>;
  /** Extra attester environment. */
  attesterEnv: Array<{ name: string; value: string }>;
  volumes: Array<Record<string, unknown>>;
}

/** What the NVIDIA container toolkit reads to expose GPUs and NVML to a container that requests none. */
export const POD_CVM_GPU_ENV = [
  { name: 'NVIDIA_VISIBLE_DEVICES', value: 'all' },
  { name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'utility' },
];

/** `gpus`: what the replica's server requests (the sidecar sees GPUs only when there are some). */
export function replicaTeeAccess(tee: TeeType, topology: Topology, config: Pick<OperatorConfig, 'runtimeClassByTee' | 'tsmHostPath'>, gpus = 0): ReplicaTeeAccess {
  const none: ReplicaTeeAccess = { attesterArgs: [], attesterSecurity: {}, attesterMounts: [], attesterEnv: [], volumes: [] };
  if (topology === 'pod-cvm') {
    if (tee === 'simulated') return { ...none, attesterArgs: ['--tee', 'simulated', '--gpu', 'simulated'] };
    const runtimeClassName = config.runtimeClassByTee[tee];
    return runtimeClassName ? { ...none, runtimeClassName, attesterEnv: gpus > 0 ? POD_CVM_GPU_ENV : [] } : none;
  }
  return {
    attesterArgs: [...(tee === 'simulated' ? ['--tee', 'tsm', '--gpu', 'none'] : []), '--tsm-root', `${TSM_MOUNT_PATH}/report`],
    attesterSecurity: { runAsNonRoot: false, runAsUser: 0, runAsGroup: 0 },
    attesterMounts: [{ name: TSM_VOLUME, mountPath: TSM_MOUNT_PATH }],
    attesterEnv: [],
    volumes: [{ name: TSM_VOLUME, hostPath: { path: config.tsmHostPath, type: 'Directory' } }],
  };
}
