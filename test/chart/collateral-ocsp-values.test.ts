// The chart's schema admits collateral.nvidiaOcspUrl and nvidiaOcspRequired (NVIDIA certificate status by
// OCSP) and passes them into the operator's config; before, it refused both as unknown keys.
import test from 'ava';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { one, render } from './helm.js';

test('collateral.nvidiaOcspUrl and nvidiaOcspRequired pass the chart schema into the operator configuration', async (t) => {
  const cm = one(await render({ set: ['operator.config.collateral.nvidiaOcspUrl=https://ocsp.ndis.nvidia.com', 'operator.config.collateral.nvidiaOcspRequired=false'] }), 'ConfigMap', (o) => o.metadata.name.endsWith('-operator'));
  const config = parseOperatorConfig((cm.data as Record<string, string>)['config.yaml']!, 'rendered config');
  t.is(config.collateral.nvidiaOcspUrl, 'https://ocsp.ndis.nvidia.com');
  t.false(config.collateral.nvidiaOcspRequired);
  await t.throwsAsync(render({ set: ['operator.config.collateral.nvidiaOcspUrl=ocsp.ndis.nvidia.com'] }), { message: /nvidiaOcspUrl|pattern/i });
});
