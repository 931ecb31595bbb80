// Real TDX quotes through the attestation service's own path: the evidence endpoint, the policy lookup,
// the verifier main.ts builds (verifierWithCollateral over the collateral cache the operator configures)
// and a PCCS on 127.0.0.1 serving the vectors' real Intel collateral over Intel's v4 API. The clock is
// pinned (vectors.ts TDX_TIME: every item current). A recorded quote cannot carry a live challenge's
// binding, so with collateral present its binding must be the only reason it is refused; when the PCCS
// withholds, goes stale, serves older or forged collateral, the refusal names the verifier's own code.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, sign } from 'node:crypto';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { collateralSources } from '../../operator/src/attestation/collateral/from-config.js';
import type { TdxCollateralCache } from '../../operator/src/attestation/collateral/tdx-cache.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { derBitString, derInteger, derOid, derSequence, derTime } from '../../operator/src/attestation/simulated/der-encode.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { createRoot } from '../../operator/src/attestation/simulated/test-root.js';
import { parseTdxQuote } from '../../operator/src/attestation/tdx/quote.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { parseOperatorConfig } from '../../operator/src/config.js';
import { collateralService, type CollateralService, type Evidence } from './collateral-service.js';
import { startPccs, vectorCollateral, type Pccs } from './pccs-server.js';
import { codes, expectedJson, readVector, TDX_TIME, vectorPath } from './vectors.js';
import { testTempDir } from '../_temp-dir.js';

const V5 = 'go-tdx-guest/quote_v5_sample.dat'; // FMSPC 90c06f000000, UpToDate under the 2026-03 collateral
const OUT_OF_DATE = 'trustee/tdx_quote_4.dat'; // FMSPC 50806f000000, OutOfDate, a debug TD
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const mrTdOf = (file: string): string => (expectedJson('tdx').vectors as any[]).find((v) => v.quote === file).mr_td.hex;
const V5_POLICY: AttestationPolicySpec = { allowedMeasurements: [mrTdOf(V5)] };
/** After the TCB info, QE identity and PCK CRL's nextUpdate (2026-04-15), before the root CRL's and the signing certificate's. */
const AFTER_NEXT_UPDATE = new Date('2026-04-20T00:00:00Z');
const hours = (n: number) => n * 3600_000;

interface Live extends CollateralService {
  pccs: Pccs;
  cache: TdxCollateralCache;
}

/** The operator's wiring, from its configuration file down, with a PCCS serving `content`. */
async function live(content = vectorCollateral()): Promise<Live> {
  const pccs = await startPccs(content);
  const dir = testTempDir('chrysalis-pccs-');
  writeFileSync(join(dir, 'ca.pem'), pccs.ca);
  const service = collateralService(`collateral:\n  intelPcsUrl: ${pccs.url}\n  caFile: ${join(dir, 'ca.pem')}\n`, TDX_TIME);
  return { ...service, pccs, cache: service.sources.tdx };
}

const tdx = (file: string): Evidence => () => ({ cpu: { type: 'tdx', quote: Buffer.from(readVector('tdx', file)).toString('base64') } });
const itemOf = (l: Live, kind: string) => l.cache.status(l.clock.now).find((s) => s.kind === kind)!;

test('with the real collateral from the PCCS, the service refuses the recorded quote for its binding alone: every other check passes', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.false(answer.verified);
  t.deepEqual(codes(answer), ['BINDING_MISMATCH'], JSON.stringify(answer.reasons));
  t.regex(answer.reasons[0]!.message, /report_data/);
  // What the service records: a rejected answer for this challenge, code BINDING_MISMATCH, no verdict.
  t.like(l.writes.at(-1)!.body.status?.attestation?.pendingRejections, { code: 'BINDING_MISMATCH', count: 1 });
  t.false('verifiedAt' in (l.writes.at(-1)!.body.status?.attestation ?? {}));
  t.deepEqual(l.pccs.requests.sort(), [
    'GET /sgx/certification/v4/pckcrl?ca=platform&encoding=der',
    'GET /sgx/certification/v4/rootcacrl',
    'GET /tdx/certification/v4/qe/identity',
    'GET /tdx/certification/v4/tcb?fmspc=90c06f000000',
  ]);
  // The policy checks after the binding ran on this quote too: one that pins another image says so beside it.
  const otherImage = await l.answer(tdx(V5), { allowedMeasurements: ['00'.repeat(48)] });
  t.deepEqual(codes(otherImage), ['BINDING_MISMATCH', 'MEASUREMENT_NOT_ALLOWED']);
  t.is(l.pccs.requests.length, 4, 'the second answer was verified from the cache');
  // The same collateral, with no live challenge to bind, verifies the quote completely (UpToDate).
  const offline = verifyTdx({ quote: readVector('tdx', V5), collateral: await l.cache.collateralFor(readVector('tdx', V5), TDX_TIME) }, { now: TDX_TIME, policy: { allowedMeasurements: [mrTdOf(V5)] } });
  t.deepEqual(offline.reasons, []);
  t.is(offline.claims.tcbStatus, 'UpToDate');
});

for (const [kind, withhold] of [
  ['tcb-info', (c: ReturnType<typeof vectorCollateral>) => { c.tcbInfo = {}; }],
  ['qe-identity', (c: ReturnType<typeof vectorCollateral>) => { delete c.qeIdentity; }],
  ['pck-crl', (c: ReturnType<typeof vectorCollateral>) => { c.pckCrl = {}; }],
  ['root-crl', (c: ReturnType<typeof vectorCollateral>) => { delete c.rootCrl; }],
] as const) {
  test(`a PCCS that answers 404 for the ${kind} leaves the quote COLLATERAL_MISSING, and the cache shows the item missing`, async (t) => {
    const content = vectorCollateral();
    withhold(content);
    const l = await live(content);
    t.teardown(() => l.pccs.close());
    const answer = await l.answer(tdx(V5), V5_POLICY);
    t.deepEqual(codes(answer), ['COLLATERAL_MISSING'], JSON.stringify(answer.reasons));
    const item = itemOf(l, kind);
    t.is(item.state, 'missing');
    t.regex(item.lastError ?? '', /404/);
  });
}

test('after nextUpdate the served collateral is stale and the quote is refused COLLATERAL_INVALID, for each stale item', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  l.clock.now = AFTER_NEXT_UPDATE;
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_INVALID', 'COLLATERAL_INVALID', 'COLLATERAL_INVALID'], JSON.stringify(answer.reasons));
  t.true(answer.reasons.every((r) => /not current/.test(r.message)));
  t.deepEqual(l.cache.status(AFTER_NEXT_UPDATE).map((s) => `${s.kind}:${s.state}`), ['pck-crl:stale', 'qe-identity:stale', 'root-crl:fresh', 'tcb-info:stale']);
});

test('collateral fetched while current and never refreshed (the PCCS went away) fails closed once past nextUpdate', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  t.deepEqual(codes(await l.answer(tdx(V5), V5_POLICY)), ['BINDING_MISMATCH']);
  l.pccs.content = { tcbInfo: {}, pckCrl: {} };
  l.clock.now = AFTER_NEXT_UPDATE;
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_INVALID', 'COLLATERAL_INVALID', 'COLLATERAL_INVALID'], JSON.stringify(answer.reasons));
  const tcb = itemOf(l, 'tcb-info');
  t.is(tcb.state, 'stale');
  t.is(tcb.fetchedAt, TDX_TIME.toISOString());
  t.regex(tcb.lastError ?? '', /404/);
});

test('an item is refetched before its nextUpdate, and a failed refetch keeps the current copy in use', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  await l.answer(tdx(V5), V5_POLICY);
  const before = l.pccs.requests.length;
  // Twelve hours before the TCB info's nextUpdate (2026-04-15T22:06:09Z): inside the default one-day margin.
  l.clock.now = new Date('2026-04-15T10:06:09Z');
  l.pccs.content = { tcbInfo: {}, pckCrl: {} };
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.true(l.pccs.requests.slice(before).includes('GET /tdx/certification/v4/tcb?fmspc=90c06f000000'), 'the TCB info was asked for again');
  t.deepEqual(codes(answer), ['BINDING_MISMATCH'], 'the copy that is still current is used');
  t.is(itemOf(l, 'tcb-info').state, 'refresh-due');
  // Once the PCCS serves again, the next use refreshes it.
  l.pccs.content = vectorCollateral();
  l.clock.now = new Date('2026-04-15T10:36:09Z');
  await l.answer(tdx(V5), V5_POLICY);
  t.is(itemOf(l, 'tcb-info').fetchedAt, l.clock.now.toISOString());
});

test('collateral already past its nextUpdate when served (an old TCB info) is refused COLLATERAL_INVALID', async (t) => {
  const content = vectorCollateral();
  content.tcbInfo['90c06f000000'] = { body: readFileSync(vectorPath('tdx', 'go-tdx-guest/sample_tcbinfo_response_v5'), 'utf8'), chainPem: content.qeIdentity!.chainPem! };
  const l = await live(content);
  t.teardown(() => l.pccs.close());
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_INVALID'], JSON.stringify(answer.reasons));
  t.regex(answer.reasons[0]!.message, /TCB info for FMSPC 90c06f000000 is not current/);
});

test('a PCCS that rolls back to an older TCB info does not replace the newer one the cache holds', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  await l.answer(tdx(V5), V5_POLICY);
  l.pccs.content.tcbInfo['90c06f000000'] = { body: readFileSync(vectorPath('tdx', 'go-tdx-guest/sample_tcbinfo_response_v5'), 'utf8'), chainPem: l.pccs.content.qeIdentity!.chainPem! };
  l.clock.now = new Date(TDX_TIME.getTime() + hours(7)); // past the 6-hour refresh interval
  t.deepEqual(codes(await l.answer(tdx(V5), V5_POLICY)), ['BINDING_MISMATCH']);
  const tcb = itemOf(l, 'tcb-info');
  t.is(tcb.issuedAt, '2026-03-16T22:06:09.000Z');
  t.regex(tcb.lastError ?? '', /older tcb-info/);
});

test('a platform whose TCB the served collateral rates OutOfDate is refused TCB_STATUS_UNACCEPTABLE by a policy that accepts only UpToDate', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  const policy: AttestationPolicySpec = { allowedMeasurements: [mrTdOf(OUT_OF_DATE)], debugAllowed: true };
  const strict = await l.answer(tdx(OUT_OF_DATE), { ...policy, tdx: { acceptedTcbStatuses: ['UpToDate'] } });
  t.deepEqual(codes(strict), ['TCB_STATUS_UNACCEPTABLE'], JSON.stringify(strict.reasons));
  t.regex(strict.reasons[0]!.message, /OutOfDate/);
  // Under the default accepted statuses the same quote is, again, refused for its binding alone.
  t.deepEqual(codes(await l.answer(tdx(OUT_OF_DATE), policy)), ['BINDING_MISMATCH']);
  t.true(l.pccs.requests.includes('GET /tdx/certification/v4/tcb?fmspc=50806f000000'));
});

test('a TCB info the PCCS altered (its signature fails) never enters the cache: the quote stays COLLATERAL_MISSING', async (t) => {
  const content = vectorCollateral();
  const genuine = content.tcbInfo['90c06f000000']!;
  content.tcbInfo['90c06f000000'] = { ...genuine, body: genuine.body.replace('"tcbLevels":', '"tcbLevels" :') };
  t.not(content.tcbInfo['90c06f000000']!.body, genuine.body);
  const l = await live(content);
  t.teardown(() => l.pccs.close());
  const answer = await l.answer(tdx(V5), V5_POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_MISSING'], JSON.stringify(answer.reasons));
  t.regex(itemOf(l, 'tcb-info').lastError ?? '', /signature does not verify/);
  t.regex(await l.registry.metrics(), /chrysalis_collateral_fetches_total\{family="tdx",kind="tcb-info",result="refused"\} 1/);
});

// FLAGGED: only Intel's PCK Platform CA can sign a CRL that revokes this real quote's PCK certificate, and
// the vectors' real CRLs (57 revoked serials) do not list it, so CERT_REVOKED cannot be reached with the
// real chain. This CRL names Intel's CA and lists the PCK's serial, but is signed by a test key: it shows
// that such a CRL is refused and never displaces the genuine one, not a CERT_REVOKED verdict.
function forgedPckCrl(): Uint8Array {
  const pemChain = parseTdxQuote(readVector('tdx', V5)).pckChainPem;
  const [leaf, pckCa] = decodeCertificates(pemChain).map(parseCertificate);
  const key = createRoot([['CN', 'not Intel']], { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') });
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const tbs = derSequence(
    derInteger(1), alg, pckCa!.subjectDer, derTime(new Date('2026-03-19T00:00:00Z')), derTime(new Date('2026-05-01T00:00:00Z')),
    derSequence(derSequence(derInteger(Buffer.from(leaf!.serialHex, 'hex')), derTime(new Date('2026-03-19T00:00:00Z')))),
  );
  return derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, key.privateKey))));
}

test('a CRL listing the PCK but not signed by Intel\'s PCK CA (flagged: test-signed) is refused and never displaces the genuine CRL', async (t) => {
  const content = vectorCollateral();
  content.pckCrl.platform = forgedPckCrl();
  const l = await live(content);
  t.teardown(() => l.pccs.close());
  t.deepEqual(codes(await l.answer(tdx(V5), V5_POLICY)), ['COLLATERAL_MISSING']);
  t.regex(itemOf(l, 'pck-crl').lastError ?? '', /not validly signed by "Intel SGX PCK Platform CA"/);

  const held = await live();
  t.teardown(() => held.pccs.close());
  await held.answer(tdx(V5), V5_POLICY);
  held.pccs.content.pckCrl.platform = forgedPckCrl();
  held.clock.now = new Date(TDX_TIME.getTime() + hours(7));
  t.deepEqual(codes(await held.answer(tdx(V5), V5_POLICY)), ['BINDING_MISMATCH']);
  t.is(itemOf(held, 'pck-crl').issuedAt, '2026-03-16T22:34:05.000Z');
});

test('the simulated TEE, whose binding is live, reaches verified through the same collateral-backed service path', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  const tee = SimulatedTee.create({ now: TDX_TIME, gpus: 1 });
  const publicKey = new Uint8Array(randomBytes(32));
  const answer = await l.answer((nonce) => {
    const report = tee.snpReport({ nonce, publicKey });
    return {
      cpu: { type: 'simulated', report: Buffer.from(report.report).toString('base64'), vcek: Buffer.from(report.vcek).toString('base64'), chain: report.chainPem },
      publicKey,
      gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, publicKey) }).map((g, index) => ({ index, report: Buffer.from(g.evidence).toString('base64'), certChain: g.chainPem })),
    };
  }, tee.policy() as AttestationPolicySpec);
  t.deepEqual(answer.reasons, []);
  t.true(answer.verified);
  t.deepEqual(l.pccs.requests, [], 'no TDX collateral is fetched for other evidence');
  // The verdict the service records, from which the ProviderNode controller sets Attested=True.
  const verdict = l.writes.at(-1)!;
  t.regex(verdict.path, /\/providernodes\/gpu-1\/status$/);
  t.like(verdict.body.status?.attestation, { verifiedAt: TDX_TIME.toISOString(), lastFailure: null });
});

test('the cache state is in the operator\'s metrics: each item fresh, with its nextUpdate, and the fetches counted', async (t) => {
  const l = await live();
  t.teardown(() => l.pccs.close());
  await l.answer(tdx(V5), V5_POLICY);
  const text = await l.registry.metrics();
  t.regex(text, /chrysalis_collateral_state\{family="tdx",kind="tcb-info",key="90c06f000000",state="fresh"\} 1/);
  t.regex(text, /chrysalis_collateral_state\{family="tdx",kind="tcb-info",key="90c06f000000",state="stale"\} 0/);
  t.regex(text, new RegExp(`chrysalis_collateral_next_update_timestamp_seconds\\{family="tdx",kind="tcb-info",key="90c06f000000"\\} ${Date.parse('2026-04-15T22:06:09Z') / 1000}`));
  t.regex(text, /chrysalis_collateral_fetches_total\{family="tdx",kind="pck-crl",result="ok"\} 1/);
  l.clock.now = AFTER_NEXT_UPDATE;
  t.regex(await l.registry.metrics(), /chrysalis_collateral_state\{family="tdx",kind="qe-identity",key="td-qe",state="stale"\} 1/);
});

test('without a configured endpoint nothing is fetched and TDX evidence stays COLLATERAL_MISSING', async (t) => {
  const cache = collateralSources(parseOperatorConfig('{}').collateral).tdx;
  const collateral = await cache.collateralFor(readVector('tdx', V5), TDX_TIME);
  t.deepEqual(collateral, {});
  t.deepEqual(codes(verifyTdx({ quote: readVector('tdx', V5), collateral }, { now: TDX_TIME })), ['COLLATERAL_MISSING']);
  t.deepEqual(cache.status(TDX_TIME).map((s) => `${s.kind}:${s.state}`), ['pck-crl:missing', 'qe-identity:missing', 'root-crl:missing', 'tcb-info:missing']);
});
