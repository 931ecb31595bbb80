// `chrysalis collateral import DIR` against the real apiserver, as a user runs it: the bundle lands in the
// ConfigMap the chart mounts, a second import replaces it (a file left out is gone), and a bundle with an
// unusable file writes nothing (exit 2).
import test from 'ava';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigMaps, resourcePath } from '../../operator/src/kube/resource.js';
import { isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { testCluster, useNamespace } from '../cluster/index.js';
import { vectorPath } from '../attestation/vectors.js';
import { runCli } from './helpers.js';
import { testTempDir } from '../_temp-dir.js';

const NAMES = ['tcb_info_90c06f000000.json', 'td_qe_identity.json', 'tcb_signing_chain.pem', 'pck_crl_platform.der', 'root_ca_crl.der'];

function dirWith(names: string[]): string {
  const dir = testTempDir('chrysalis-import-');
  for (const n of names) copyFileSync(vectorPath('tdx', `attestation-rs/${n}`), join(dir, n));
  return dir;
}

test('import stores the bundle in the ConfigMap the chart mounts, and a second import replaces it', async (t) => {
  const cluster = await testCluster();
  const ns = await useNamespace(t, 'cli-collateral-import');
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const first = await runCli(['collateral', 'import', dirWith(NAMES), '-n', ns], env);
  t.is(first.code, 0, first.stdout + first.stderr);
  t.regex(first.stdout, new RegExp(`imported 5 file\\(s\\) into ConfigMap ${ns}/chrysalis-collateral-bundle`));
  t.regex(first.stdout, /tcb_info_90c06f000000\.json\s+tcb-info\s+90c06f000000/);
  const rest = new RestClient(cluster.kubeConfig());
  t.teardown(() => rest.close());
  const cm = await rest.request<{ data: Record<string, string>; binaryData: Record<string, string> }>('GET', resourcePath(ConfigMaps, ns, 'chrysalis-collateral-bundle'));
  t.deepEqual(Object.keys(cm.data).sort(), ['tcb_info_90c06f000000.json', 'tcb_signing_chain.pem', 'td_qe_identity.json']);
  t.deepEqual(Object.keys(cm.binaryData).sort(), ['pck_crl_platform.der', 'root_ca_crl.der']);

  const second = await runCli(['collateral', 'import', dirWith(NAMES.filter((n) => n !== 'root_ca_crl.der')), '-n', ns], env);
  t.is(second.code, 0, second.stdout + second.stderr);
  const after = await rest.request<{ binaryData?: Record<string, string> }>('GET', resourcePath(ConfigMaps, ns, 'chrysalis-collateral-bundle'));
  t.deepEqual(Object.keys(after.binaryData ?? {}), ['pck_crl_platform.der']);
});

test('a bundle with a file that is not collateral writes nothing (exit 2, naming the file)', async (t) => {
  const cluster = await testCluster();
  const ns = await useNamespace(t, 'cli-collateral-bad');
  const dir = dirWith(NAMES);
  writeFileSync(join(dir, 'notes.txt'), 'copied on Tuesday');
  const r = await runCli(['collateral', 'import', dir, '-n', ns], { KUBECONFIG: cluster.kubeconfigPath });
  t.is(r.code, 2, r.stdout + r.stderr);
  t.regex(r.stderr, /notes\.txt/);
  const rest = new RestClient(cluster.kubeConfig());
  t.teardown(() => rest.close());
  const err = await rest.request('GET', resourcePath(ConfigMaps, ns, 'chrysalis-collateral-bundle')).catch((e: unknown) => e);
  t.true(isNotFound(err));
});
