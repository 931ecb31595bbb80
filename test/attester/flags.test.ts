// The attester is launched by two other parts of the product: the chart's node DaemonSet and the replica
// sidecar the InferencePool controller builds. Every flag either passes must be one the attester's CLI
// defines, or the attester exits 2 on a real host while every unit test here stays green.
import test from 'ava';
import { buildProgram } from '../../attester/src/cli.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { ciValuesFiles, render, scenarioName } from '../chart/helm.js';
import { pool } from '../inferencepool/builders.js';

const known = new Set(buildProgram(() => undefined, () => undefined).options.map((o) => o.long));

function unknownFlags(args: readonly string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!).filter((flag) => !known.has(flag));
}

test('the replica sidecar the operator builds passes only flags the attester knows', (t) => {
  for (const tee of ['sev-snp', 'tdx', 'simulated'] as const) {
    const pod = buildReplicaPod({ pool: pool('llama', 2), index: 0, tee, config: DEFAULT_CONFIG }) as { spec: { containers: Array<{ name: string; args?: string[] }> } };
    const sidecar = pod.spec.containers.find((c) => c !== pod.spec.containers[0]);
    t.truthy(sidecar?.args?.length, `${tee}: the sidecar has arguments`);
    t.deepEqual(unknownFlags(sidecar!.args!), [], `${tee}: unknown attester flags`);
  }
});

for (const valuesFiles of [[], ...ciValuesFiles.map((f) => [f])]) {
  const name = valuesFiles.length ? scenarioName(valuesFiles[0]!) : 'the defaults';
  test(`the node attester DaemonSet rendered from ${name} passes only flags the attester knows`, async (t) => {
    const objects = await render({ valuesFiles });
    const daemonSets = objects.filter((o) => o.kind === 'DaemonSet');
    for (const ds of daemonSets) {
      const containers = ((ds.spec as { template: { spec: { containers: Array<{ args?: string[] }> } } }).template.spec.containers);
      for (const c of containers) t.deepEqual(unknownFlags(c.args ?? []), [], `${ds.metadata.name}: unknown attester flags`);
    }
    if (!valuesFiles.length) t.true(daemonSets.length > 0, 'the defaults install the node attester');
    else t.pass(); // a scenario may turn the attester off
  });
}
