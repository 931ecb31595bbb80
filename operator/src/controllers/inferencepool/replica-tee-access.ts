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
//   simulated evidence needs neither.
import type { OperatorConfig } from '../../config.js';
import type { ProviderNodeSpec } from '../../api/providernode.js';
import type { TeeType } from '../../placement/index.js';

export type Topology = NonNullable<ProviderNodeSpec['topology']>;

/** Where the host's configfs-tsm is, and where the sidecar sees it (a path the container can mount on). */
export const TSM_HOST_PATH = '/sys/kernel/config/tsm';
export const TSM_MOUNT_PATH = '/run/chrysalis/tsm';
export const TSM_VOLUME = 'tsm';

export interface ReplicaTeeAccess {
  runtimeClassName?: string;
  /** Extra attester arguments. */
  attesterArgs: string[];
  /** Replaces fields of the attester container's securityContext. */
  attesterSecurity: Record<string, unknown>;
  attesterMounts: Array<Record<string, unknown>>;
  volumes: Array<Record<string, unknown>>;
}

export function replicaTeeAccess(tee: TeeType, topology: Topology, config: Pick<OperatorConfig, 'runtimeClassByTee'>): ReplicaTeeAccess {
  const none: ReplicaTeeAccess = { attesterArgs: [], attesterSecurity: {}, attesterMounts: [], volumes: [] };
  if (tee === 'simulated') return none;
  if (topology === 'pod-cvm') {
    const runtimeClassName = config.runtimeClassByTee[tee];
    return runtimeClassName ? { ...none, runtimeClassName } : none;
  }
  return {
    attesterArgs: ['--tsm-root', `${TSM_MOUNT_PATH}/report`],
    attesterSecurity: { runAsNonRoot: false, runAsUser: 0, runAsGroup: 0 },
    attesterMounts: [{ name: TSM_VOLUME, mountPath: TSM_MOUNT_PATH }],
    volumes: [{ name: TSM_VOLUME, hostPath: { path: TSM_HOST_PATH, type: 'Directory' } }],
  };
}
