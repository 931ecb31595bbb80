// NVIDIA certificate status in the attestation service's collateral path: with collateral.nvidiaOcspUrl
// the cache POSTs one OCSP request per NVIDIA-issued certificate of every GPU chain (SHA-384 CertID and a
// nonce, as NVIDIA's verifier asks) to a responder on 127.0.0.1, keeps the answers until their nextUpdate,
// refetches them before it, and the verifier refuses a revoked certificate (CERT_REVOKED), a status it
// cannot get (COLLATERAL_MISSING) and a stale one (COLLATERAL_INVALID). The offline bundle is the other
// source. Responses are signed under the simulated TEE's root by a delegated responder (flagged: no
// NVIDIA-signed response is among the vectors, test/vectors/nvidia-h100/SOURCE.md).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import type { IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { inspectBundle } from '../../cli/src/commands/collateral-import.js';
import { collateralService, type Evidence } from './collateral-service.js';
import { ocspResponse, responderFor, startOcspResponder, type OcspResponder } from './ocsp-responder.js';

const DAY = 86_400_000;
const T = new Date('2026-06-01T00:00:00Z');
const at = (days: number) => new Date(T.getTime() + days * DAY);
const tee = SimulatedTee.create({ now: T, days: 60 });
const POLICY = tee.policy() as AttestationPolicySpec;
const gpu = tee.gpus[0]!;
const pairs: Array<[string, IssuedCertificate, IssuedCertificate]> = [
  ['brom', gpu.brom, gpu.cas.provisioner],
  ['ica', gpu.cas.provisioner, gpu.cas.identity],
  ['identity', gpu.cas.identity, tee.root],
];
const serialOf = (c: IssuedCertificate) => parseCertificate(c.der).serialHex.replace(/^0+(?=.)/, '');
const responders = new Map(pairs.map(([, , issuer]) => [issuer, responderFor(issuer, { notBefore: at(-1), notAfter: at(40) })]));

const evidence: Evidence = (nonce) => {
  const publicKey = new Uint8Array(randomBytes(32));
  const report = tee.snpReport({ nonce, publicKey });
  return {
    cpu: { type: 'simulated', report: Buffer.from(report.report).toString('base64'), vcek: Buffer.from(report.vcek).toString('base64'), chain: report.chainPem },
    publicKey,
    gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, publicKey) }).map((g, index) => ({ index, report: Buffer.from(g.evidence).toString('base64'), certChain: g.chainPem })),
  };
};
const codes = (a: { reasons: { code: string }[] }) => [...new Set(a.reasons.map((r) => r.code))];

/** The responder answers every pair with `status`, valid thisUpdate..nextUpdate (days from T), echoing the nonce. */
function serve(ocsp: OcspResponder, o: { status?: 'good' | 'revoked' | 'unknown'; from?: number; to?: number; only?: string[]; badNonce?: boolean } = {}): void {
  ocsp.answers.clear();
  for (const [name, cert, issuer] of pairs) {
    if (o.only && !o.only.includes(name)) continue;
    ocsp.answers.set(serialOf(cert), (nonce) => ocspResponse({
      cert, issuer, signer: responders.get(issuer)!, status: name === 'ica' ? (o.status ?? 'good') : 'good',
      thisUpdate: at(o.from ?? -0.5), nextUpdate: at(o.to ?? 7), ...(nonce ? { nonce: o.badNonce ? new Uint8Array(32) : nonce } : {}),
    }));
  }
}

async function live(extra = '') {
  const ocsp = await startOcspResponder();
  const service = collateralService(`collateral:\n  nvidiaOcspUrl: ${ocsp.url}\n  refreshIntervalSeconds: 259200\n${extra}`, T);
  return { ocsp, ...service };
}
const ocspItems = (l: Awaited<ReturnType<typeof live>>) => l.sources.status(l.clock.now).filter((s) => s.family === 'nvidia');

test('every NVIDIA-issued certificate of the GPU chain is asked once (SHA-384 CertID, nonce), cached, and the node verifies', async (t) => {
  const l = await live();
  t.teardown(() => l.ocsp.close());
  serve(l.ocsp);
  const answer = await l.answer(evidence, POLICY);
  t.deepEqual(answer.reasons, []);
  t.true(answer.verified);
  t.deepEqual(l.ocsp.requests.map((r) => r.serial).sort(), pairs.map(([, c]) => serialOf(c)).sort(), 'BROM, ICA, Identity: not the GPU-made leaf, not the root');
  t.true(l.ocsp.requests.every((r) => r.hashOid === '2.16.840.1.101.3.4.2.2' && r.nonce?.length === 32 && r.contentType === 'application/ocsp-request'));
  t.deepEqual(ocspItems(l).map((s) => [s.kind, s.state, s.source, s.nextUpdate]), pairs.map(() => ['ocsp', 'fresh', 'endpoint', at(7).toISOString()]));
  // Cached until a refresh margin before nextUpdate: the next answer asks nothing.
  l.clock.now = at(2);
  t.true((await l.answer(evidence, POLICY)).verified);
  t.is(l.ocsp.requests.length, 3);
  t.regex(await l.registry.metrics(), /chrysalis_collateral_fetches_total\{family="nvidia",kind="ocsp",result="ok"\} 3/);
  t.regex(await l.registry.metrics(), /chrysalis_collateral_state\{family="nvidia",kind="ocsp",key="Simulated GH100 Provisioner ICA 1 [0-9a-f]+",state="fresh"\} 1/);
});

test('a responder that withholds a status fails the GPU COLLATERAL_MISSING, and the item shows missing', async (t) => {
  const l = await live();
  t.teardown(() => l.ocsp.close());
  serve(l.ocsp, { only: ['brom', 'identity'] });
  const answer = await l.answer(evidence, POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_MISSING']);
  t.regex(answer.reasons[0]!.message, /no OCSP status for certificate "Simulated GH100 Provisioner ICA 1"/);
  t.like(ocspItems(l).find((s) => s.key.startsWith('Simulated GH100 Provisioner')), { state: 'missing' });
  t.regex(await l.registry.metrics(), /chrysalis_collateral_fetches_total\{family="nvidia",kind="ocsp",result="not_found"\} 1/);
});

test('a revocation arrives with the refetch every refreshInterval, before nextUpdate: CERT_REVOKED', async (t) => {
  const l = await live();
  t.teardown(() => l.ocsp.close());
  serve(l.ocsp, { to: 14 });
  t.true((await l.answer(evidence, POLICY)).verified);
  serve(l.ocsp, { status: 'revoked', from: 3, to: 14 });
  l.clock.now = at(3.5);
  const answer = await l.answer(evidence, POLICY);
  t.deepEqual(codes(answer), ['CERT_REVOKED']);
  t.regex(answer.reasons[0]!.message, /Provisioner ICA 1.*revoked according to OCSP/);
  t.regex(ocspItems(l).map((s) => s.key).join(','), /\(revoked\)/);
});

test('a refused or failed refetch keeps the current response; past its nextUpdate the GPU fails COLLATERAL_INVALID', async (t) => {
  const l = await live();
  t.teardown(() => l.ocsp.close());
  serve(l.ocsp);
  t.true((await l.answer(evidence, POLICY)).verified);
  // A day before nextUpdate the cache asks again; the responder echoes another nonce (a replayed answer).
  serve(l.ocsp, { from: 6, to: 13, badNonce: true });
  l.clock.now = at(6.2);
  t.true((await l.answer(evidence, POLICY)).verified, 'the current responses are still current');
  t.regex(ocspItems(l)[0]!.lastError ?? '', /another nonce/);
  l.ocsp.answers.clear();
  l.clock.now = at(7.5);
  const answer = await l.answer(evidence, POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_INVALID']);
  t.regex(answer.reasons[0]!.message, /not current/);
  t.true(ocspItems(l).every((s) => s.state === 'stale'));
});

test('nvidiaOcspRequired: false asks nothing and checks no certificate status', async (t) => {
  const l = await live('  nvidiaOcspRequired: false\n');
  t.teardown(() => l.ocsp.close());
  t.true((await l.answer(evidence, POLICY)).verified);
  t.deepEqual(l.ocsp.requests, []);
});

test('without an endpoint, responses imported in the offline bundle are used; once the bundle has any, a GPU without one fails closed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-ocsp-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const l = collateralService(`collateral:\n  bundleDir: ${dir}\n`, T);
  t.true((await l.answer(evidence, POLICY)).verified, 'an empty bundle and no endpoint: status is not checked');
  for (const [name, cert, issuer] of pairs.slice(0, 2)) writeFileSync(join(dir, `${name}.ocsp`), ocspResponse({ cert, issuer, signer: responders.get(issuer)!, thisUpdate: at(-0.5), nextUpdate: at(7) }));
  const l2 = collateralService(`collateral:\n  bundleDir: ${dir}\n`, T);
  const missing = await l2.answer(evidence, POLICY);
  t.deepEqual(codes(missing), ['COLLATERAL_MISSING']);
  t.regex(missing.reasons[0]!.message, /Simulated GH100 Identity/);
  const [name, cert, issuer] = pairs[2]!;
  writeFileSync(join(dir, `${name}.ocsp`), ocspResponse({ cert, issuer, signer: responders.get(issuer)!, thisUpdate: at(-0.5), nextUpdate: at(7) }));
  const l3 = collateralService(`collateral:\n  bundleDir: ${dir}\n`, T);
  t.true((await l3.answer(evidence, POLICY)).verified);
  t.true(l3.sources.status(T).filter((s) => s.family === 'nvidia').every((s) => s.source === 'import' && s.state === 'fresh'));
  // `chrysalis collateral import` takes OCSP responses and lists them; one that is not a successful response is refused.
  const items = inspectBundle([{ name: 'identity.ocsp', bytes: ocspResponse({ cert, issuer, thisUpdate: at(-0.5), nextUpdate: at(7) }) }], T);
  t.like(items[0], { kind: 'ocsp', key: `serial ${serialOf(cert)} good`, state: 'fresh' });
  t.throws(() => inspectBundle([{ name: 'x.ocsp', bytes: Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x06) }], T), { message: /x\.ocsp: OCSP response: responseStatus is 6/ });
});
