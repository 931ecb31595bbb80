// An offline collateral bundle (what `chrysalis collateral import` stores and the chart mounts) as the
// last source of TDX collateral: through the service's own path, a cluster with no PCCS verifies a real
// quote with the bundle's collateral (refused for its binding alone), an endpoint that withholds falls
// back to it, the newer of the two wins, and stale or unreadable bundles fail closed.
import test from 'ava';
import { copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { collateralService, type Evidence } from './collateral-service.js';
import { startPccs, vectorCollateral } from './pccs-server.js';
import { codes, expectedJson, readVector, TDX_TIME, vectorPath } from './vectors.js';
import { testTempDir } from '../_temp-dir.js';

const V5 = 'go-tdx-guest/quote_v5_sample.dat';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const POLICY: AttestationPolicySpec = { allowedMeasurements: [(expectedJson('tdx').vectors as any[]).find((v) => v.quote === V5).mr_td.hex] };
const quote: Evidence = () => ({ cpu: { type: 'tdx', quote: Buffer.from(readVector('tdx', V5)).toString('base64') } });

/** A bundle directory with the given vector files (as a mounted ConfigMap holds its keys). */
function bundle(files: string[]): string {
  const dir = testTempDir('chrysalis-bundle-');
  for (const f of files) copyFileSync(vectorPath('tdx', f), join(dir, f.replace(/\//g, '_')));
  return dir;
}
const CURRENT = ['attestation-rs/tcb_info_90c06f000000.json', 'attestation-rs/td_qe_identity.json', 'attestation-rs/tcb_signing_chain.pem', 'attestation-rs/pck_crl_platform.der', 'attestation-rs/root_ca_crl.der'];
const OLDER_TCB = ['go-tdx-guest/sample_tcbinfo_response_v5', ...CURRENT.slice(1)];

test('with no PCCS, the imported bundle\'s real collateral verifies the quote: refused for its binding alone', async (t) => {
  const s = collateralService(`collateral:\n  bundleDir: ${bundle(CURRENT)}\n`, TDX_TIME);
  const answer = await s.answer(quote, POLICY);
  t.deepEqual(codes(answer), ['BINDING_MISMATCH'], JSON.stringify(answer.reasons));
  t.deepEqual(s.sources.status(TDX_TIME).map((i) => `${i.kind}:${i.state}:${i.source}`), ['pck-crl:fresh:import', 'qe-identity:fresh:import', 'root-crl:fresh:import', 'tcb-info:fresh:import']);
});

test('a PCCS that withholds everything falls back to the bundle', async (t) => {
  const pccs = await startPccs({ tcbInfo: {}, pckCrl: {} });
  t.teardown(() => pccs.close());
  const dir = testTempDir('chrysalis-ca-');
  writeFileSync(join(dir, 'ca.pem'), pccs.ca);
  const s = collateralService(`collateral:\n  intelPcsUrl: ${pccs.url}\n  caFile: ${join(dir, 'ca.pem')}\n  bundleDir: ${bundle(CURRENT)}\n`, TDX_TIME);
  t.deepEqual(codes(await s.answer(quote, POLICY)), ['BINDING_MISMATCH']);
});

test('a bundle whose TCB info is past its nextUpdate is refused COLLATERAL_INVALID, and a newer one from the PCCS wins over it', async (t) => {
  const stale = collateralService(`collateral:\n  bundleDir: ${bundle(OLDER_TCB)}\n`, TDX_TIME);
  const refused = await stale.answer(quote, POLICY);
  t.deepEqual(codes(refused), ['COLLATERAL_INVALID'], JSON.stringify(refused.reasons));
  t.regex(refused.reasons[0]!.message, /TCB info for FMSPC 90c06f000000 is not current/);

  const pccs = await startPccs(vectorCollateral());
  t.teardown(() => pccs.close());
  const dir = testTempDir('chrysalis-ca-');
  writeFileSync(join(dir, 'ca.pem'), pccs.ca);
  const both = collateralService(`collateral:\n  intelPcsUrl: ${pccs.url}\n  caFile: ${join(dir, 'ca.pem')}\n  bundleDir: ${bundle(OLDER_TCB)}\n`, TDX_TIME);
  t.deepEqual(codes(await both.answer(quote, POLICY)), ['BINDING_MISMATCH']);
  t.like(both.sources.status(TDX_TIME).find((i) => i.kind === 'tcb-info'), { source: 'endpoint', issuedAt: '2026-03-16T22:06:09.000Z' });
});

test('a bundle with a file that is not collateral is not used: with no PCCS the quote stays COLLATERAL_MISSING', async (t) => {
  const dir = bundle(CURRENT);
  writeFileSync(join(dir, 'notes.txt'), 'copied from the PCCS on Tuesday');
  const s = collateralService(`collateral:\n  bundleDir: ${dir}\n`, TDX_TIME);
  t.deepEqual(codes(await s.answer(quote, POLICY)), ['COLLATERAL_MISSING']);
});

test('a bundle directory that does not exist yet (nothing imported) is no collateral, not an error', async (t) => {
  const s = collateralService(`collateral:\n  bundleDir: ${join(tmpdir(), 'chrysalis-no-such-bundle')}\n`, TDX_TIME);
  t.deepEqual(codes(await s.answer(quote, POLICY)), ['COLLATERAL_MISSING']);
});
