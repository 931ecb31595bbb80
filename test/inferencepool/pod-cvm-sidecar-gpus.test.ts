// A pod-cvm replica's sidecar reaches the Pod's GPUs (issue 15): the service requires its VM's evidence to
// prove them, so on pod-cvm the attester container sets NVIDIA_VISIBLE_DEVICES=all and
// NVIDIA_DRIVER_CAPABILITIES=utility (the NVIDIA container toolkit in the guest then gives it the device
// nodes and NVML) while requesting no GPU itself; in a per-replica VM "all" is the Pod's GPUs. Never on
// node-cvm, where "all" would be every GPU of the node, nor without GPUs or a runtime class.
import test from 'ava';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { ATTESTER_CONTAINER, buildReplicaPod, SERVER_CONTAINER } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { podGpuCount } from '../../operator/src/attestation/service/replica-topology.js';
import { pool } from './builders.js';

const config: OperatorConfig = {
  ...DEFAULT_CONFIG,
  gpuResourceName: 'nvidia.com/pgpu',
  runtimeClassByTee: { 'sev-snp': 'kata-qemu-nvidia-gpu-snp' },
  attesterImage: 'registry.example/attester@sha256:' + 'a'.repeat(64),
  attestationServiceUrl: 'https://attest.example:8443',
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const build = (o: { tee?: 'sev-snp' | 'tdx' | 'simulated'; gpus?: number; topology?: 'node-cvm' | 'pod-cvm' } = {}): any =>
  buildReplicaPod({ pool: pool('llama', 1, { gpusPerReplica: o.gpus ?? 2 }), index: 0, tee: o.tee ?? 'sev-snp', topology: o.topology ?? 'pod-cvm', config });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const container = (pod: any, name: string) => pod.spec.containers.find((c: { name: string }) => c.name === name);
const envOf = (c: { env?: Array<{ name: string; value?: string }> }) => Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));

test('pod-cvm: the sidecar sees its VM\'s GPUs through NVML without requesting any; the Pod still asks for the server\'s GPUs only', (t) => {
  const pod = build();
  t.is(pod.spec.runtimeClassName, 'kata-qemu-nvidia-gpu-snp');
  const attester = container(pod, ATTESTER_CONTAINER);
  t.like(envOf(attester), { NVIDIA_VISIBLE_DEVICES: 'all', NVIDIA_DRIVER_CAPABILITIES: 'utility' });
  t.falsy(attester.resources, 'a GPU request of its own would allocate other devices');
  t.deepEqual(container(pod, SERVER_CONTAINER).resources, { limits: { 'nvidia.com/pgpu': '2' } });
  t.is(podGpuCount(pod, config.gpuResourceName), 2, 'what the service requires the replica\'s evidence to prove');
  t.false('NVIDIA_VISIBLE_DEVICES' in envOf(container(pod, SERVER_CONTAINER)), 'the server gets its devices from the device plugin');
  // The sidecar stays unprivileged: no capability, escalation or host path.
  t.like(attester.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.false(pod.spec.volumes.some((v: { hostPath?: unknown }) => v.hostPath));
});

test('never on node-cvm (every GPU of the node), nor without GPUs, a runtime class or real TEE', (t) => {
  for (const pod of [build({ topology: 'node-cvm' }), build({ gpus: 0 }), build({ tee: 'tdx' }), build({ tee: 'simulated' })]) {
    t.false('NVIDIA_VISIBLE_DEVICES' in envOf(container(pod, ATTESTER_CONTAINER)));
  }
});
