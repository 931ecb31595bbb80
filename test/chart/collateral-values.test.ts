// The chart passes operator.config.collateral (where the attestation service fetches TDX collateral)
// into the operator's config file, and its schema refuses a misspelt key before the operator would.
import test from 'ava';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { one, render } from './helm.js';

test('operator.config.collateral reaches the operator configuration the attestation service reads', async (t) => {
  const cm = one(await render({ set: ['operator.config.collateral.intelPcsUrl=https://pccs.kube-system.svc:8081', 'operator.config.collateral.caFile=/etc/chrysalis/collateral-ca/ca.pem', 'attestation.collateralCa.secretName=pccs-ca', 'operator.config.collateral.amdKdsUrl=https://kdsintf.amd.com'] }), 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.is(config.collateral.intelPcsUrl, 'https://pccs.kube-system.svc:8081');
  t.is(config.collateral.caFile, '/etc/chrysalis/collateral-ca/ca.pem');
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

test('attestation.collateralCa mounts the PCCS / KDS cache CA where collateral.caFile reads it, and one is refused without the other', async (t) => {
  for (const [source, volume] of [
    ['secretName', { name: 'collateral-ca', secret: { secretName: 'pccs-ca', items: [{ key: 'ca.pem', path: 'ca.pem' }] } }],
    ['configMapName', { name: 'collateral-ca', configMap: { name: 'pccs-ca', items: [{ key: 'ca.pem', path: 'ca.pem' }] } }],
  ] as const) {
    const objects = await render({ set: [`attestation.collateralCa.${source}=pccs-ca`, 'operator.config.collateral.caFile=/etc/chrysalis/collateral-ca/ca.pem', 'operator.config.collateral.intelPcsUrl=https://pccs:8081'] });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const pod = (one(objects, 'Deployment', (o) => o.metadata.name.endsWith('-attestation')) as any).spec.template.spec;
    t.deepEqual(pod.volumes.find((v: { name: string }) => v.name === 'collateral-ca'), volume, source);
    t.like(pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'collateral-ca'), { mountPath: '/etc/chrysalis/collateral-ca', readOnly: true });
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const plain = (one(await render(), 'Deployment', (o) => o.metadata.name.endsWith('-attestation')) as any).spec.template.spec;
  t.false(plain.volumes.some((v: { name: string }) => v.name === 'collateral-ca'), 'nothing mounted by default');
  await t.throwsAsync(render({ set: ['attestation.collateralCa.secretName=pccs-ca'] }), { message: /set operator.config.collateral.caFile/ });
  await t.throwsAsync(render({ set: ['operator.config.collateral.caFile=/etc/chrysalis/collateral-ca/ca.pem'] }), { message: /only attestation.collateralCa/ });
});

test('collateral.amdCrlRequired passes the chart schema into the operator configuration', async (t) => {
  const cm = one(await render({ set: ['operator.config.collateral.amdKdsUrl=https://kds.example', 'operator.config.collateral.amdCrlRequired=false'] }), 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  t.false(parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config').collateral.amdCrlRequired);
});
