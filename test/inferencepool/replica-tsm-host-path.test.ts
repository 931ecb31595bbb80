// Where a node-cvm replica's sidecar finds the host's configfs-tsm is configuration (tsmHostPath), the
// chart's attester.tsm.hostPath by default, so the replica reads the same directory as the node attester.
import test from 'ava';
import { ConfigError, DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';
import { replicaTeeAccess } from '../../operator/src/controllers/inferencepool/replica-tee-access.js';
import { find, render } from '../chart/helm.js';

test('tsmHostPath defaults to the kernel\'s configfs-tsm and is read from the config file', (t) => {
  t.is(DEFAULT_CONFIG.tsmHostPath, '/sys/kernel/config/tsm');
  t.is(parseOperatorConfig('tsmHostPath: /var/lib/sim/tsm').tsmHostPath, '/var/lib/sim/tsm');
});

test('a relative, empty or non-string tsmHostPath is refused with the key', (t) => {
  for (const bad of ['tsmHostPath: sys/kernel/config/tsm', 'tsmHostPath: ""', 'tsmHostPath: 3', 'tsmHostPath: /a/../etc']) {
    const err = t.throws(() => parseOperatorConfig(bad, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, /config\.yaml: tsmHostPath must be an absolute host path/);
  }
});

test('a node-cvm replica mounts configfs-tsm from the configured host path', (t) => {
  const access = replicaTeeAccess('tdx', 'node-cvm', { ...DEFAULT_CONFIG, tsmHostPath: '/var/lib/sim/tsm' });
  t.deepEqual(access.volumes, [{ name: 'tsm', hostPath: { path: '/var/lib/sim/tsm', type: 'Directory' } }]);
});

const renderedConfig = async (set: string[]) => {
  const objects = await render({ set });
  const cm = find(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'))[0]!;
  return parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
};

test('the chart gives the operator its attester\'s configfs-tsm host path, unless operator.config sets one', async (t) => {
  t.is((await renderedConfig([])).tsmHostPath, '/sys/kernel/config/tsm');
  t.is((await renderedConfig(['attester.tsm.hostPath=/var/lib/sim/tsm'])).tsmHostPath, '/var/lib/sim/tsm');
  t.is((await renderedConfig(['attester.tsm.hostPath=/var/lib/sim/tsm', 'operator.config.tsmHostPath=/other/tsm'])).tsmHostPath, '/other/tsm');
});
