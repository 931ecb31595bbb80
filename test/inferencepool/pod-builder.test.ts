// Replica Pods: the restricted security context, the attestation readiness gate, the runtimeClass of the
// chosen node's TEE on a pod-cvm host and the configfs-tsm mount on a node-cvm host, the model pinned in the environment, and the owner reference to the pool.
import test from 'ava';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import {
  ATTESTER_CONTAINER,
  buildReplicaPod,
  replicaIndexOf,
  SERVER_CONTAINER,
} from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { LABEL_POOL, LABEL_REPLICA, READINESS_GATE_ATTESTED, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { MODEL_HASH, pool } from './builders.js';

const config: OperatorConfig = {
  ...DEFAULT_CONFIG,
  gpuResourceName: 'example.com/gpu',
  runtimeClassByTee: { 'sev-snp': 'kata-qemu-snp', tdx: 'kata-qemu-tdx' },
  attesterImage: 'registry.example/attester@sha256:' + 'a'.repeat(64),
  attestationServiceUrl: 'https://attest.example:8443',
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const build = (tee: 'sev-snp' | 'tdx' | 'simulated' = 'sev-snp', gpus = 2, topology: 'node-cvm' | 'pod-cvm' = 'pod-cvm'): any =>
  buildReplicaPod({ pool: pool('llama', 3, { gpusPerReplica: gpus }), index: 2, tee, topology, config });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const container = (pod: any, name: string) => pod.spec.containers.find((c: { name: string }) => c.name === name);

test('the replica is named <pool>-<index> and labelled with its pool and index', (t) => {
  const pod = build();
  t.is(pod.metadata.name, 'llama-2');
  t.is(pod.metadata.namespace, 'team');
  t.is(pod.metadata.labels[LABEL_POOL], 'llama');
  t.is(pod.metadata.labels[LABEL_REPLICA], '2');
  t.is(replicaIndexOf('llama', 'llama-2'), 2);
  t.is(replicaIndexOf('llama', 'llama-02'), undefined);
  t.is(replicaIndexOf('llama', 'llama-x-2'), undefined);
});

test('the pool is the controlling owner and blocks its own deletion until the replica is gone', (t) => {
  t.deepEqual(build().metadata.ownerReferences, [
    { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llama', uid: 'uid-llama', controller: true, blockOwnerDeletion: true },
  ]);
});

test('the operator is the scheduler and the attested readiness gate is required', (t) => {
  const pod = build();
  t.is(pod.spec.schedulerName, 'chrysalis');
  t.deepEqual(pod.spec.readinessGates, [{ conditionType: READINESS_GATE_ATTESTED }]);
});

test('a replica is created bound to the node chosen for it, or unbound when none is given', (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const bound: any = buildReplicaPod({ pool: pool('llama', 3), index: 0, tee: 'tdx', node: 'gpu-7', topology: 'pod-cvm', config });
  t.is(bound.spec.nodeName, 'gpu-7');
  t.is(bound.spec.runtimeClassName, 'kata-qemu-tdx');
  t.false('nodeName' in build().spec);
});

test('on a pod-cvm host the runtimeClass follows the TEE of the chosen node, and is absent where none is configured', (t) => {
  t.is(build('sev-snp').spec.runtimeClassName, 'kata-qemu-snp');
  t.is(build('tdx').spec.runtimeClassName, 'kata-qemu-tdx');
  t.false('runtimeClassName' in build('simulated').spec);
  // Its sidecar reads configfs-tsm inside its own VM: no host path.
  t.false(build('sev-snp').spec.volumes.some((v: { hostPath?: unknown }) => v.hostPath));
});

test('on a node-cvm host the replica gets no runtimeClass and its sidecar gets the host\'s configfs-tsm', (t) => {
  for (const tee of ['sev-snp', 'tdx'] as const) {
    const pod = build(tee, 2, 'node-cvm');
    t.false('runtimeClassName' in pod.spec, tee);
    t.deepEqual(pod.spec.volumes.find((v: { name: string }) => v.name === 'tsm'), { name: 'tsm', hostPath: { path: '/sys/kernel/config/tsm', type: 'Directory' } });
    const attester = container(pod, ATTESTER_CONTAINER);
    t.deepEqual(attester.volumeMounts.find((m: { name: string }) => m.name === 'tsm'), { name: 'tsm', mountPath: '/run/chrysalis/tsm' });
    t.deepEqual(attester.args.slice(-2), ['--tsm-root', '/run/chrysalis/tsm/report']);
    // configfs-tsm entries are root's: uid 0, but no capability, escalation or writable root filesystem.
    t.like(attester.securityContext, { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    t.falsy(attester.securityContext.privileged);
    t.true(container(pod, SERVER_CONTAINER).securityContext.runAsNonRoot, 'the inference server stays non-root');
    t.false(container(pod, SERVER_CONTAINER).volumeMounts.some((m: { name: string }) => m.name === 'tsm'));
  }
  // The topology defaults to node-cvm, as the CRD does.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const byDefault: any = buildReplicaPod({ pool: pool('llama', 3), index: 0, tee: 'sev-snp', config });
  t.false('runtimeClassName' in byDefault.spec);
  t.true(byDefault.spec.volumes.some((v: { name: string }) => v.name === 'tsm'));
  // A simulated node-cvm host's TSM is read like hardware (replica-simulated-node-cvm.test.ts).
  t.true(build('simulated', 2, 'node-cvm').spec.volumes.some((v: { name: string }) => v.name === 'tsm'));
});

test('the GPUs are requested under the configured resource name', (t) => {
  t.deepEqual(container(build('sev-snp', 4), SERVER_CONTAINER).resources, { limits: { 'example.com/gpu': '4' } });
  t.is(container(build(), ATTESTER_CONTAINER).resources, undefined);
});

test('the model is pinned in the server environment', (t) => {
  const env = container(build(), SERVER_CONTAINER).env;
  t.deepEqual(env.slice(0, 3), [
    { name: 'CHRYSALIS_MODEL_HASH', value: MODEL_HASH },
    { name: 'CHRYSALIS_MODEL_NAME', value: 'meta-llama/Llama-3.1-8B-Instruct' },
    { name: 'CHRYSALIS_MODEL_SOURCE', value: 'pvc://models/llama-3.1-8b-instruct' },
  ]);
});

test('every container runs under the restricted Pod Security profile', (t) => {
  const pod = build();
  t.true(pod.spec.securityContext.runAsNonRoot);
  t.deepEqual(pod.spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  t.false(pod.spec.automountServiceAccountToken);
  t.is(pod.spec.containers.length, 2);
  t.is(pod.spec.initContainers.length, 1);
  for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) {
    t.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    }, c.name);
    t.falsy(c.securityContext.privileged);
  }
});

test('the attester sidecar attests this replica against the configured service and knows its Pod', (t) => {
  const attester = container(build(), ATTESTER_CONTAINER);
  t.is(attester.image, config.attesterImage);
  t.deepEqual(attester.args.slice(0, 4), ['--mode', 'replica', '--service', 'https://attest.example:8443']);
  t.deepEqual(attester.env, [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    // pod-cvm with GPUs: the sidecar reads its VM's GPUs through NVML (pod-cvm-sidecar-gpus.test.ts).
    { name: 'NVIDIA_VISIBLE_DEVICES', value: 'all' },
    { name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'utility' },
  ]);
  t.false(attester.args.includes('simulated'));
  t.true(container(build('simulated'), ATTESTER_CONTAINER).args.join(' ').includes('--tee simulated --gpu simulated'));
});

test('a replica never tolerates the unattested taint (nor any other)', (t) => {
  const pod = build();
  t.is(pod.spec.tolerations, undefined);
  t.false(JSON.stringify(pod).includes(TAINT_UNATTESTED));
});
