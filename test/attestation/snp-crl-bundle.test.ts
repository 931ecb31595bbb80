// AMD CRLs from the offline bundle (`chrysalis collateral import`), for a site without a KDS: once the
// bundle carries a CRL under an ARK's name the service asks for the ARK's CRL of every sev-snp report, and
// takes from the bundle the newest one the ARK validly signed that is current. The real Milan report shows
// that a bundle CRL under ARK-Milan's name that ARK-Milan did not sign fails it closed; admission,
// revocation and staleness use the simulated chain with its root standing in for the ARK (the cache's
// arkFor), signed by a local key: flagged as such (no CRL signed by AMD's real ARK is in test/vectors).
import test from 'ava';
import { sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttestationPolicySpec } from '../../operator/src/api/attestationpolicy.js';
import { AmdKdsClient } from '../../operator/src/attestation/collateral/amd-kds.js';
import { SnpVcekCache } from '../../operator/src/attestation/collateral/snp-cache.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { amdAnchors } from '../../operator/src/attestation/sev-snp/amd-roots.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { derBitString, derInteger, derOid, derSequence, derTime } from '../../operator/src/attestation/simulated/der-encode.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { createRoot, type IssuedCertificate } from '../../operator/src/attestation/simulated/test-root.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { inspectBundle } from '../../cli/src/commands/collateral-import.js';
import { collateralService, type Evidence } from './collateral-service.js';
import { startKds } from './kds-server.js';
import { codes, expectedJson, readVector, SNP_TIME } from './vectors.js';

const DAY = 86_400_000;
const at = (base: Date, days: number) => new Date(base.getTime() + days * DAY);

function crl(issuerName: Uint8Array, key: IssuedCertificate['privateKey'], thisUpdate: Date, nextUpdate: Date, revoke: IssuedCertificate[] = []): Uint8Array {
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const revoked = revoke.map((c) => derSequence(derInteger(Buffer.from(parseCertificate(c.der).serialHex, 'hex')), derTime(thisUpdate)));
  const tbs = derSequence(derInteger(1), alg, issuerName, derTime(thisUpdate), derTime(nextUpdate), ...(revoked.length ? [derSequence(...revoked)] : []));
  return derSequence(tbs, alg, derBitString(new Uint8Array(sign('sha384', tbs, key))));
}

// --- The real Milan report, a bundle directory and no KDS. ---
const REPORT = 'virtee-sev/report_milan.hex';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const vector = (expectedJson('sev-snp').vectors as any[]).find((v) => v.report === REPORT);
const POLICY: AttestationPolicySpec = { allowedMeasurements: [vector.measurement as string] };
const reportB64 = Buffer.from(Buffer.from(Buffer.from(readVector('sev-snp', REPORT)).toString('ascii').trim(), 'hex')).toString('base64');
const milan: Evidence = () => ({ cpu: { type: 'sev-snp', report: reportB64, vcek: Buffer.from(readVector('sev-snp', 'virtee-sev/vcek_milan.der')).toString('base64') } });

test('real Milan report, no KDS: a bundle CRL under ARK-Milan\'s name not signed by it turns the check on and fails the report closed; without one nothing is asked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-amd-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.deepEqual(codes(await collateralService(`collateral:\n  bundleDir: ${dir}\n`, SNP_TIME).answer(milan, POLICY)), ['BINDING_MISMATCH'], 'no AMD CRL imported: revocation is not checked (as before), the recorded report fails only its binding');
  const arkMilan = amdAnchors().find((a) => a.generation === 'Milan')!.cert;
  const forger = createRoot([['CN', 'forger']], { notBefore: at(SNP_TIME, -30), notAfter: at(SNP_TIME, 30) });
  writeFileSync(join(dir, 'milan.crl'), crl(arkMilan.subjectDer, forger.privateKey, at(SNP_TIME, -1), at(SNP_TIME, 6)));
  const l = collateralService(`collateral:\n  bundleDir: ${dir}\n`, SNP_TIME);
  const answer = await l.answer(milan, POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_MISSING']);
  t.regex(answer.reasons[0]!.message, /no CRL from ARK-Milan/);
  t.like(l.sources.status(SNP_TIME).find((s) => s.kind === 'crl' && s.key === 'Milan'), { state: 'missing' });
  // And `chrysalis collateral import` refuses that file before anything is written.
  t.throws(() => inspectBundle([{ name: 'milan.crl', bytes: crl(arkMilan.subjectDer, forger.privateKey, at(SNP_TIME, -1), at(SNP_TIME, 6)) }], SNP_TIME), { message: /names ARK-Milan as issuer but its signature does not verify/ });
});

// --- The simulated chain, its root standing in for ARK-Milan. ---
const T = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now: T, days: 60 });
const rootName = parseCertificate(tee.snp.root.der).subjectDer;

function bundleCache(bundle: Uint8Array[], kds?: AmdKdsClient) {
  const cache = new SnpVcekCache({
    ...(kds ? { kds } : {}), retryAfterMs: 60_000, crlRequired: true, refreshBeforeMs: DAY, refreshIntervalMs: 3 * DAY,
    arkFor: (product) => (product === 'Milan' ? parseCertificate(tee.snp.root.der) : undefined),
    bundleCrls: () => bundle,
  });
  const { report, vcek, chainPem } = tee.snpReport({});
  const verifyAt = async (now: Date) => verifySevSnp({ report, certificates: [vcek], chain: decodeCertificates(chainPem) }, { now, policy: tee.policy(), amdCrls: await cache.crlsFor(report, now) });
  return { cache, verifyAt };
}
const reasonCodes = (v: { reasons: { code: string }[] }) => [...new Set(v.reasons.map((r) => r.code))];

test('simulated ARK, no KDS: the newest current bundle CRL signed by the ARK is used; one revoking the ASK is CERT_REVOKED; past nextUpdate COLLATERAL_INVALID', async (t) => {
  const bundle: Uint8Array[] = [];
  const s = bundleCache(bundle);
  t.false(s.cache.checksCrls, 'an empty bundle and no KDS: not asked');
  bundle.push(crl(rootName, tee.snp.root.privateKey, at(T, -3), at(T, 4)), crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 7)));
  t.true(s.cache.checksCrls);
  t.deepEqual((await s.verifyAt(T)).reasons, []);
  t.like(s.cache.status(T).find((x) => x.kind === 'crl' && x.key === 'Milan'), { state: 'fresh', source: 'import', nextUpdate: at(T, 7).toISOString() });
  // A newer import revoking the ASK replaces it (read when the held one is due: every refreshInterval).
  bundle.push(crl(rootName, tee.snp.root.privateKey, at(T, 2), at(T, 9), [tee.snp.ask]));
  t.deepEqual(reasonCodes(await s.verifyAt(at(T, 3.5))), ['CERT_REVOKED']);
  // Nothing newer imported: past nextUpdate the held copy is stale.
  t.deepEqual(reasonCodes(await s.verifyAt(at(T, 9.5))), ['COLLATERAL_INVALID']);
});

test('simulated ARK: a KDS answer is preferred; when the KDS serves nothing, the bundle\'s CRL is taken', async (t) => {
  const kds = await startKds();
  t.teardown(() => kds.close());
  const s = bundleCache([crl(rootName, tee.snp.root.privateKey, at(T, -2), at(T, 7))], new AmdKdsClient({ baseUrl: kds.url }));
  kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 8)));
  t.deepEqual((await s.verifyAt(T)).reasons, []);
  t.like(s.cache.status(T).find((x) => x.kind === 'crl' && x.key === 'Milan'), { source: 'endpoint', nextUpdate: at(T, 8).toISOString() });
  const t2 = bundleCache([crl(rootName, tee.snp.root.privateKey, at(T, -2), at(T, 7))], new AmdKdsClient({ baseUrl: kds.url }));
  kds.vceks.delete('/vcek/v1/Milan/crl');
  t.deepEqual((await t2.verifyAt(T)).reasons, []);
  t.like(t2.cache.status(T).find((x) => x.kind === 'crl' && x.key === 'Milan'), { source: 'import', nextUpdate: at(T, 7).toISOString() });
});
