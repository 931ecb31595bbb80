// `chrysalis-operator --components`: what one process runs. The chart runs the controllers and the
// attestation service apart; a typo must stop the process instead of silently running something else.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOperator, CONTROLLERS_LEASE_NAME, operatorProgram, parseComponents } from '../../operator/src/main.js';
import { testTempDir } from '../_temp-dir.js';

test('without --components a process runs both the controllers and the attestation service', (t) => {
  const flags = operatorProgram().parse([], { from: 'user' }).opts<{ components: string[] }>();
  t.deepEqual(flags.components, ['controllers', 'attestation-service']);
});

test('--components takes one part or both, comma-separated, each once', (t) => {
  t.deepEqual(parseComponents('controllers'), ['controllers']);
  t.deepEqual(parseComponents('attestation-service'), ['attestation-service']);
  t.deepEqual(parseComponents('attestation-service, controllers,controllers'), ['attestation-service', 'controllers']);
});

test('a misspelt or empty --components is refused with the flag and the known parts named', (t) => {
  t.throws(() => parseComponents('controller'), { message: /--components: unknown "controller"; use a comma-separated list of controllers, attestation-service/ });
  t.throws(() => parseComponents(' , '), { message: /--components: empty/ });
});

test('the controllers lead through their Lease; a process that only serves attestation takes none, so every replica serves', (t) => {
  t.is(CONTROLLERS_LEASE_NAME, 'chrysalis-operator', 'the controllers keep the Lease earlier versions held');
  // Building a manager connects to nothing: a kubeconfig naming an unreachable server is enough.
  const kubeconfig = join(testTempDir('chrysalis-components-'), 'kubeconfig');
  writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
  const flags = { kubeconfig, leaderElect: true, leaseNamespace: 'chrysalis-system', metricsPort: 0, attestationPort: 0, qps: 1, burst: 1 };
  t.is(buildOperator({ ...flags, components: ['attestation-service'] }).elector, undefined);
});
