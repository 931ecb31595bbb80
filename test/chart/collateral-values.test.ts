// The chart passes operator.config.collateral (where the attestation service fetches TDX collateral)
// into the operator's config file, and its schema refuses a misspelt key before the operator would.
import test from 'ava';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { one, render } from './helm.js';

test('operator.config.collateral reaches the operator configuration the attestation service reads', async (t) => {
  const cm = one(await render({ set: ['operator.config.collateral.intelPcsUrl=https://pccs.kube-system.svc:8081', 'operator.config.collateral.caFile=/etc/chrysalis/pccs/ca.pem', 'operator.config.collateral.amdKdsUrl=https://kdsintf.amd.com'] }), 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.is(config.collateral.intelPcsUrl, 'https://pccs.kube-system.svc:8081');
  t.is(config.collateral.caFile, '/etc/chrysalis/pccs/ca.pem');
  t.is(config.collateral.amdKdsUrl, 'https://kdsintf.amd.com');
});

test('the chart refuses a misspelt collateral key instead of rendering a config the operator would reject', async (t) => {
  await t.throwsAsync(render({ set: ['operator.config.collateral.intelPcsURL=https://pccs'] }), { message: /intelPcsURL|additional/i });
});

test('the attestation service mounts the imported collateral bundle (optional) where the default config reads it', async (t) => {
  const objects = await render();
  const cm = one(objects, 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.is(config.collateral.bundleDir, '/etc/chrysalis/collateral');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pod = (one(objects, 'Deployment', (o) => o.metadata.name.endsWith('-attestation')) as any).spec.template.spec;
  t.deepEqual(pod.volumes.find((v: { name: string }) => v.name === 'collateral-bundle'), { name: 'collateral-bundle', configMap: { name: 'chrysalis-collateral-bundle', optional: true } });
  t.like(pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'collateral-bundle'), { mountPath: '/etc/chrysalis/collateral', readOnly: true });
});
