// A replica on a node-cvm host whose tee is 'simulated' reads the host's (simulated) configfs-tsm like
// hardware, so its CPU evidence comes from the node's own simulated chip and the service's host
// comparison can pass; a simulated source inside the sidecar would make a fresh root (another chip).
// It sends no GPU evidence: the service asks a node-cvm replica for none. A simulated pod-cvm host
// (kwok only) keeps the sidecar's simulated sources.
import test from 'ava';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { ATTESTER_CONTAINER, buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { replicaTeeAccess } from '../../operator/src/controllers/inferencepool/replica-tee-access.js';
import { pool } from './builders.js';

const config: OperatorConfig = { ...DEFAULT_CONFIG, tsmHostPath: '/var/lib/harness/tsm', runtimeClassByTee: { simulated: 'kata-sim' } };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const attesterOf = (topology: 'node-cvm' | 'pod-cvm'): any => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pod: any = buildReplicaPod({ pool: pool('llama', 3, { gpusPerReplica: 2 }), index: 0, tee: 'simulated', topology, config });
  return { pod, attester: pod.spec.containers.find((c: { name: string }) => c.name === ATTESTER_CONTAINER) };
};

test('a simulated node-cvm replica reads the host\'s configfs-tsm with --tee tsm and sends no GPU evidence', (t) => {
  const { pod, attester } = attesterOf('node-cvm');
  const args = attester.args.join(' ');
  t.true(args.includes('--tee tsm --gpu none --tsm-root /run/chrysalis/tsm/report'), args);
  t.false(args.includes('simulated'), 'no simulated source in the sidecar: it would be another chip');
  t.deepEqual(pod.spec.volumes.find((v: { name: string }) => v.name === 'tsm'), { name: 'tsm', hostPath: { path: '/var/lib/harness/tsm', type: 'Directory' } });
  t.deepEqual(attester.volumeMounts.find((m: { name: string }) => m.name === 'tsm'), { name: 'tsm', mountPath: '/run/chrysalis/tsm' });
  t.like(attester.securityContext, { runAsUser: 0, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
  t.false('runtimeClassName' in pod.spec);
  t.false((attester.env ?? []).some((e: { name: string }) => e.name === 'NVIDIA_VISIBLE_DEVICES'), 'never every GPU of the node');
});

test('a simulated pod-cvm replica keeps the sidecar\'s simulated sources, with no host path nor runtime class', (t) => {
  const { pod, attester } = attesterOf('pod-cvm');
  t.true(attester.args.join(' ').includes('--tee simulated --gpu simulated'));
  t.false(attester.args.includes('--tsm-root'));
  t.false((pod.spec.volumes ?? []).some((v: { name: string }) => v.name === 'tsm'));
  t.false('runtimeClassName' in pod.spec);
});

test('hardware node-cvm replicas are unchanged: the TSM default source and NVML, no --gpu none', (t) => {
  for (const tee of ['sev-snp', 'tdx'] as const) {
    t.deepEqual(replicaTeeAccess(tee, 'node-cvm', config, 2).attesterArgs, ['--tsm-root', '/run/chrysalis/tsm/report'], tee);
  }
});
