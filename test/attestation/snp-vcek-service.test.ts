// Real SEV-SNP reports sent without their VCEK (a host with no auxblob) through the attestation service's
// own path: the VCEK comes from a KDS-compatible server on 127.0.0.1 at AMD's interface path, enters the
// cache only when it chains to the pinned ARK and belongs to the chip and TCB, and is verified again by
// the verifier. Clock pinned at vectors.ts SNP_TIME. A recorded report cannot carry a live challenge's
// binding, so with its VCEK fetched the binding must be the only reason it is refused.
import test from 'ava';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { collateralService, type Evidence } from './collateral-service.js';
import { startKds } from './kds-server.js';
import { codes, expectedJson, readVector, SNP_TIME } from './vectors.js';

const REPORT = 'virtee-sev/report_milan.hex'; // v2, Milan, reported_tcb 0300000000000873
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const vector = (file: string) => (expectedJson('sev-snp').vectors as any[]).find((v) => v.report === file);
const CHIP = vector(REPORT).chip_id as string;
const PATH = `/vcek/v1/Milan/${CHIP}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`;
const POLICY: AttestationPolicySpec = { allowedMeasurements: [vector(REPORT).measurement as string] };

const reportBytes = (file: string) => (file.endsWith('.hex') ? new Uint8Array(Buffer.from(Buffer.from(readVector('sev-snp', file)).toString('ascii').trim(), 'hex')) : readVector('sev-snp', file));
const snp = (file: string, vcek?: Uint8Array): Evidence => () => ({
  cpu: { type: 'sev-snp', report: Buffer.from(reportBytes(file)).toString('base64'), ...(vcek ? { vcek: Buffer.from(vcek).toString('base64') } : {}) },
});

/**
 * `crl: false`: the service does not ask for the ARK's CRL (amdCrlRequired: false). The tests of the VCEK
 * path use it, because no CRL signed by AMD's real ARK-Milan is in test/vectors, so with CRLs required a
 * real report always fails COLLATERAL_MISSING for its CRL (snp-crl-service.test.ts).
 */
async function live(options: { crl?: boolean } = {}) {
  const kds = await startKds();
  return { kds, ...collateralService(`collateral:\n  amdKdsUrl: ${kds.url}\n${options.crl === false ? '  amdCrlRequired: false\n' : ''}`, SNP_TIME) };
}

test('a report sent without its VCEK gets it from the KDS and is refused for its binding alone', async (t) => {
  const l = await live({ crl: false });
  t.teardown(() => l.kds.close());
  l.kds.vceks.set(PATH, readVector('sev-snp', 'virtee-sev/vcek_milan.der'));
  const answer = await l.answer(snp(REPORT), POLICY);
  t.deepEqual(codes(answer), ['BINDING_MISMATCH'], JSON.stringify(answer.reasons));
  t.deepEqual(l.kds.requests, [`GET ${PATH}`]);
  await l.answer(snp(REPORT), POLICY);
  t.is(l.kds.requests.length, 1, 'the second answer used the cached VCEK');
  const [item] = l.sources.status(SNP_TIME);
  t.like(item, { family: 'sev-snp', kind: 'vcek', state: 'fresh', source: 'endpoint' });
  t.regex(await l.registry.metrics(), /chrysalis_collateral_fetches_total\{family="sev-snp",kind="vcek",result="ok"\} 1/);
});

test('without a VCEK from the evidence or the KDS (404) the report is COLLATERAL_MISSING', async (t) => {
  const l = await live();
  t.teardown(() => l.kds.close());
  t.deepEqual(codes(await l.answer(snp(REPORT), POLICY)), ['COLLATERAL_MISSING']);
  // A v2 report does not name its CPU: Milan, then Genoa, were asked.
  t.deepEqual(l.sources.status(SNP_TIME).map((s) => `${s.key.split('/')[0]}:${s.state}`), ['Genoa:missing', 'Milan:missing']);
  t.true(l.sources.status(SNP_TIME).every((s) => /404/.test(s.lastError ?? '')));
});

test('a KDS answer with another chip\'s genuine VCEK for the same TCB is refused and the report stays COLLATERAL_MISSING', async (t) => {
  const l = await live();
  t.teardown(() => l.kds.close());
  l.kds.vceks.set(PATH, readVector('sev-snp', 'trustee/test-vcek.der'));
  t.deepEqual(codes(await l.answer(snp(REPORT), POLICY)), ['COLLATERAL_MISSING']);
  const milan = l.sources.status(SNP_TIME).find((s) => s.key.startsWith('Milan/'));
  t.regex(milan?.lastError ?? '', /another chip/);
});

test('a VCEK the evidence carries is used as sent: the KDS is not asked', async (t) => {
  const l = await live({ crl: false });
  t.teardown(() => l.kds.close());
  t.deepEqual(codes(await l.answer(snp(REPORT, readVector('sev-snp', 'virtee-sev/vcek_milan.der')), POLICY)), ['BINDING_MISMATCH']);
  t.deepEqual(l.kds.requests, []);
});

test('a VLEK-signed report without its certificate is not looked up (AMD issues VLEKs to cloud providers) and stays COLLATERAL_MISSING', async (t) => {
  const l = await live();
  t.teardown(() => l.kds.close());
  const answer = await l.answer(snp('trustee/test-vlek-report.bin'), { allowedMeasurements: [vector('trustee/test-vlek-report.bin').measurement as string] });
  t.deepEqual(codes(answer), ['COLLATERAL_MISSING']);
  t.deepEqual(l.kds.requests, []);
});

test('chip ids nobody has (made-up reports) do not push a VCEK in use out of a full cache', async (t) => {
  const { SnpVcekCache } = await import('../../operator/src/attestation/collateral/snp-cache.js');
  const { AmdKdsClient } = await import('../../operator/src/attestation/collateral/amd-kds.js');
  const kds = await startKds();
  t.teardown(() => kds.close());
  kds.vceks.set(PATH, readVector('sev-snp', 'virtee-sev/vcek_milan.der'));
  const cache = new SnpVcekCache({ kds: new AmdKdsClient({ baseUrl: kds.url }), retryAfterMs: 60_000, maxEntries: 3 });
  const genuine = reportBytes(REPORT);
  t.truthy(await cache.vcekFor(genuine, SNP_TIME));
  for (let i = 0; i < 5; i++) {
    const madeUp = Uint8Array.from(genuine);
    madeUp[0x1a0] = i + 1; // another chip id
    t.is(await cache.vcekFor(madeUp, SNP_TIME), undefined);
  }
  const before = kds.requests.length;
  t.truthy(await cache.vcekFor(genuine, SNP_TIME));
  t.is(kds.requests.length, before, 'the genuine VCEK was still cached');
  t.true(cache.status(SNP_TIME).length <= 3);
});
