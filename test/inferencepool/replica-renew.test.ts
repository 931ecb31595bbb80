// replicaRenewSeconds: how often each replica's attester sidecar renews at least (its --reattest-interval),
// from the operator's config and the chart's operator.config; absent, the sidecar keeps its own default.
// A renewal on a node-cvm host also looks at the host's hardware, so this is how an operator has a host's
// fault noticed by its replicas sooner (docs/BENCHMARKS.md, "How the quarantined hosts were found").
import test from 'ava';
import { ConfigError, DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { find, render } from '../chart/helm.js';
import { pool } from './builders.js';

const sidecarArgs = (config = DEFAULT_CONFIG): string[] => {
  const pod = buildReplicaPod({ pool: pool('llama', 1), index: 0, tee: 'sev-snp', topology: 'node-cvm', node: 'gpu-1', config }) as { spec: { containers: Array<{ name: string; args?: string[] }> } };
  return pod.spec.containers.find((c) => c.args?.includes('--mode'))!.args!;
};

test('unset, the sidecar gets no --reattest-interval; set, it gets the configured seconds', (t) => {
  t.is(DEFAULT_CONFIG.replicaRenewSeconds, undefined);
  t.false(sidecarArgs().includes('--reattest-interval'));
  const args = sidecarArgs(parseOperatorConfig('replicaRenewSeconds: 600'));
  t.is(args[args.indexOf('--reattest-interval') + 1], '600');
});

test('a replicaRenewSeconds that is not a whole number from 30 to 86400 is refused with the key and the fix', (t) => {
  for (const bad of ['replicaRenewSeconds: 10', 'replicaRenewSeconds: 90000', 'replicaRenewSeconds: 60.5', 'replicaRenewSeconds: "600"']) {
    const err = t.throws(() => parseOperatorConfig(bad, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, /^config\.yaml: replicaRenewSeconds must be a whole number of seconds from 30 to 86400, or left out/, bad);
  }
});

test('a misspelt key is refused with a list of the known keys that names replicaRenewSeconds', (t) => {
  const err = t.throws(() => parseOperatorConfig('replicaRenewSecs: 600', 'config.yaml'), { instanceOf: ConfigError });
  t.regex(err!.message, /^config\.yaml: unknown key "replicaRenewSecs" \(known: .*\breplicaRenewSeconds\b/);
  t.regex(err!.message, /\battestationCaFile\b/);
});

test('the chart passes operator.config.replicaRenewSeconds to the operator, and its schema refuses one below 30', async (t) => {
  const objects = await render({ set: ['operator.config.replicaRenewSeconds=600'] });
  const cm = find(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'))[0]!;
  t.is(parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config').replicaRenewSeconds, 600);
  const err = await t.throwsAsync(render({ set: ['operator.config.replicaRenewSeconds=10'] }));
  t.regex(err!.message, /replicaRenewSeconds/);
});
