// The replica sidecar trusts the chart's attestation CA: with attestationCaFile in the operator's
// config, the CA's PEM rides on the replica Pod as an annotation, is projected next to the attestation
// token as ca.crt, and the sidecar gets --ca for that file; without it the sidecar has no --ca (system
// roots) and no such annotation. A config naming an unreadable or non-PEM file is refused naming the key.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CONFIG, loadOperatorConfig } from '../../operator/src/config.js';
import { ATTESTATION_TOKEN_DIR, ATTESTER_CONTAINER, buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { ANNOTATION_ATTESTATION_CA } from '../../operator/src/marks.js';
import { pool } from './builders.js';
import { testTempDir } from '../_temp-dir.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n';

interface Pod {
  metadata: { annotations?: Record<string, string> };
  spec: {
    containers: { name: string; args: string[]; volumeMounts: { name: string; mountPath: string }[] }[];
    volumes: { name: string; projected?: { sources: Record<string, any>[] } }[];
  };
}

async function configWithCa(): Promise<typeof DEFAULT_CONFIG> {
  const dir = testTempDir('chrysalis-ca-');
  await writeFile(join(dir, 'ca.crt'), PEM);
  await writeFile(join(dir, 'config.yaml'), `attestationCaFile: ${join(dir, 'ca.crt')}\n`);
  return loadOperatorConfig(join(dir, 'config.yaml'));
}

test('with attestationCaFile the sidecar reads the chart\'s CA from a file projected from the Pod\'s annotation', async (t) => {
  const config = await configWithCa();
  t.is(config.attestationCa, PEM);
  for (const tee of ['simulated', 'sev-snp'] as const) {
    const pod = buildReplicaPod({ pool: pool('llama', 1), index: 0, tee, config }) as unknown as Pod;
    t.is(pod.metadata.annotations?.[ANNOTATION_ATTESTATION_CA], PEM);
    const attester = pod.spec.containers.find((c) => c.name === ATTESTER_CONTAINER)!;
    const i = attester.args.indexOf('--ca');
    t.is(attester.args[i + 1], `${ATTESTATION_TOKEN_DIR}/ca.crt`, tee);
    const volume = pod.spec.volumes.find((v) => v.name === 'attestation-token')!;
    t.true(attester.volumeMounts.some((m) => m.name === 'attestation-token' && m.mountPath === ATTESTATION_TOKEN_DIR));
    t.deepEqual(volume.projected!.sources.find((s) => s.downwardAPI)!.downwardAPI.items,
      [{ path: 'ca.crt', fieldRef: { fieldPath: `metadata.annotations['${ANNOTATION_ATTESTATION_CA}']` } }]);
  }
});

test('without a CA configured the sidecar gets no --ca and the Pod no CA annotation', (t) => {
  const pod = buildReplicaPod({ pool: pool('llama', 1), index: 0, tee: 'simulated', config: DEFAULT_CONFIG }) as unknown as Pod;
  t.is(pod.metadata.annotations?.[ANNOTATION_ATTESTATION_CA], undefined);
  t.false(pod.spec.containers.find((c) => c.name === ATTESTER_CONTAINER)!.args.includes('--ca'));
});

test('an unreadable or non-PEM attestationCaFile is refused naming the key', async (t) => {
  const dir = testTempDir('chrysalis-ca-');
  await writeFile(join(dir, 'not-pem'), 'hello');
  for (const file of [join(dir, 'missing'), join(dir, 'not-pem')]) {
    await writeFile(join(dir, 'config.yaml'), `attestationCaFile: ${file}\n`);
    t.throws(() => loadOperatorConfig(join(dir, 'config.yaml')), { message: /attestationCaFile/ });
  }
});
