// `chrysalis collateral status` reads each attestation service replica's collateral from its metrics: the
// parse is checked against the metrics a real cache exports after fetching the TDX vectors' collateral
// from a PCCS on 127.0.0.1, so the CLI and the operator cannot drift apart on names or labels.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collateralFromMetrics, collateralHealthy, collateralScreen } from '../../cli/src/commands/collateral.js';
import { collateralService } from '../attestation/collateral-service.js';
import { startPccs, vectorCollateral } from '../attestation/pccs-server.js';
import { readVector, TDX_TIME } from '../attestation/vectors.js';
import { testTempDir } from '../_temp-dir.js';

async function replicaAfterOneQuote() {
  const pccs = await startPccs(vectorCollateral());
  const dir = testTempDir('chrysalis-pccs-');
  writeFileSync(join(dir, 'ca.pem'), pccs.ca);
  const service = collateralService(`collateral:\n  intelPcsUrl: ${pccs.url}\n  caFile: ${join(dir, 'ca.pem')}\n`, TDX_TIME);
  await service.sources.tdx.collateralFor(readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat'), TDX_TIME);
  return { pccs, service };
}

test('the items a replica cached, with their state and nextUpdate, are read from its metrics', async (t) => {
  const { pccs, service } = await replicaAfterOneQuote();
  t.teardown(() => pccs.close());
  const replica = collateralFromMetrics(await service.registry.metrics());
  t.deepEqual(replica.items.map((i) => `${i.family} ${i.kind} ${i.key} ${i.state}`), [
    'tdx pck-crl platform fresh',
    'tdx qe-identity td-qe fresh',
    'tdx root-crl root fresh',
    'tdx tcb-info 90c06f000000 fresh',
  ]);
  t.is(replica.items.find((i) => i.kind === 'tcb-info')!.nextUpdate, '2026-04-15T22:06:09.000Z');
  t.deepEqual(replica.fetches.filter((f) => f.count > 0).map((f) => `${f.kind} ${f.result} ${f.count}`).sort(), ['pck-crl ok 1', 'qe-identity ok 1', 'root-crl ok 1', 'tcb-info ok 1']);
  t.true(collateralHealthy([{ pod: 'attestation-0', ...replica }]));
});

test('a stale item makes the status unhealthy (exit 1) and the screen names it', async (t) => {
  const { pccs, service } = await replicaAfterOneQuote();
  t.teardown(() => pccs.close());
  service.clock.now = new Date('2026-04-20T00:00:00Z');
  const replica = collateralFromMetrics(await service.registry.metrics());
  t.deepEqual(replica.items.filter((i) => i.state === 'stale').map((i) => i.kind), ['pck-crl', 'qe-identity', 'tcb-info']);
  const report = { healthy: collateralHealthy([{ pod: 'attestation-0', ...replica }]), replicas: [{ pod: 'attestation-0', ...replica }] };
  t.false(report.healthy);
  const screen = collateralScreen(report);
  t.regex(screen, /DEGRADED/);
  t.regex(screen, /tcb-info\s+90c06f000000\s+\S*stale/);
});

test('a replica whose metrics cannot be read is not taken for a healthy one', (t) => {
  t.false(collateralHealthy([{ pod: 'attestation-1', items: [], fetches: [], error: 'pods "attestation-1" is forbidden' }]));
  t.true(collateralHealthy([{ pod: 'attestation-1', items: [], fetches: [] }]), 'a replica that needed nothing yet is fine');
});
