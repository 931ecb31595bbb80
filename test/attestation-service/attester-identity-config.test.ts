// Which ServiceAccount may attest nodes is configuration: the config file's attesterServiceAccount, the
// --attester-service-account flag over it, and the chart renders its own attester DaemonSet's account.
// A malformed value is an error naming the key or flag, never a fallback.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, loadOperatorConfig, parseOperatorConfig } from '../../operator/src/config.js';
import { operatorProgram } from '../../operator/src/main.js';
import { find, render } from '../chart/helm.js';

test('the config file names the attesters\' ServiceAccount as namespace/name', (t) => {
  t.deepEqual(parseOperatorConfig('attesterServiceAccount: gpu-system/node-attester').attesterServiceAccount, { namespace: 'gpu-system', name: 'node-attester' });
  t.deepEqual(DEFAULT_CONFIG.attesterServiceAccount, { namespace: 'chrysalis-system', name: 'chrysalis-attester' });
});

test('a malformed attesterServiceAccount is refused with the key and the expected form', (t) => {
  for (const bad of ['attesterServiceAccount: node-attester', 'attesterServiceAccount: a/b/c', 'attesterServiceAccount: Bad_NS/x', 'attesterServiceAccount: 3']) {
    const err = t.throws(() => parseOperatorConfig(bad, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, /config\.yaml: attesterServiceAccount must be a ServiceAccount as <namespace>\/<name>/);
  }
});

test('the --attester-service-account flag overrides the file and is checked the same way', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'attesterServiceAccount: from-file/attester\n');
  t.deepEqual(loadOperatorConfig(file).attesterServiceAccount, { namespace: 'from-file', name: 'attester' });
  t.deepEqual(loadOperatorConfig(file, { attesterServiceAccount: 'from-flag/attester' }).attesterServiceAccount, { namespace: 'from-flag', name: 'attester' });
  t.throws(() => loadOperatorConfig(file, { attesterServiceAccount: 'nonsense' }), { message: /--attester-service-account must be a ServiceAccount/ });
  const flags = operatorProgram().exitOverride().parse(['node', 'operator', '--attester-service-account', 'ns/sa']).opts();
  t.is(flags.attesterServiceAccount, 'ns/sa');
});

test('the chart tells the operator its attester DaemonSet\'s ServiceAccount', async (t) => {
  const objects = await render({ namespace: 'gpu-ops' });
  const cm = find(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'))[0]!;
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  const ds = find(objects, 'DaemonSet')[0]!;
  const account = (ds.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName;
  t.deepEqual(config.attesterServiceAccount, { namespace: 'gpu-ops', name: account });
});
