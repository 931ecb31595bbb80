// AMD CRLs in the attestation service's collateral path: the cache fetches the CRL a product's ARK signs
// from a KDS-compatible server on 127.0.0.1 (/vcek/v1/{product}/crl), admits it only when that ARK
// validly signed it and it is current, refetches it before its nextUpdate (and keeps the copy it has when
// a refetch fails), and the verifier refuses a revoked ASK or VCEK (CERT_REVOKED), a missing CRL
// (COLLATERAL_MISSING) and a stale one (COLLATERAL_INVALID).
//
// Real data: no CRL signed by AMD's real ARK is in test/vectors (test/vectors/sev-snp/SOURCE.md), so the
// real Milan report here shows only that, with CRLs required, a CRL the KDS withholds or one not signed by
// ARK-Milan fails the report closed. The admission, refresh and revocation tests use the simulated TEE's
// chain with its root standing in for the ARK (the cache's arkFor), signed by a local key: flagged as such.
import test from 'ava';
import { sign } from 'node:crypto';
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

// --- The real Milan report (virtee-sev), its real VCEK carried in the evidence. ---
const REPORT = 'virtee-sev/report_milan.hex';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const vector = (expectedJson('sev-snp').vectors as any[]).find((v) => v.report === REPORT);
const POLICY: AttestationPolicySpec = { allowedMeasurements: [vector.measurement as string] };
const reportB64 = Buffer.from(Buffer.from(Buffer.from(readVector('sev-snp', REPORT)).toString('ascii').trim(), 'hex')).toString('base64');
const milan: Evidence = () => ({ cpu: { type: 'sev-snp', report: reportB64, vcek: Buffer.from(readVector('sev-snp', 'virtee-sev/vcek_milan.der')).toString('base64') } });

async function live() {
  const kds = await startKds();
  return { kds, ...collateralService(`collateral:\n  amdKdsUrl: ${kds.url}\n`, SNP_TIME) };
}

test('real Milan report: with CRLs required and none from the KDS, the report fails COLLATERAL_MISSING naming the ARK\'s CRL', async (t) => {
  const l = await live();
  t.teardown(() => l.kds.close());
  const answer = await l.answer(milan, POLICY);
  t.deepEqual(codes(answer), ['COLLATERAL_MISSING'], JSON.stringify(answer.reasons));
  t.regex(answer.reasons[0]!.message, /no CRL from ARK-Milan/);
  // A v2 report does not name its CPU: both products' CRLs were asked for.
  t.deepEqual(l.kds.requests, ['GET /vcek/v1/Milan/crl', 'GET /vcek/v1/Genoa/crl']);
  t.like(l.sources.status(SNP_TIME).find((s) => s.kind === 'crl' && s.key === 'Milan'), { family: 'sev-snp', state: 'missing' });
  t.regex(await l.registry.metrics(), /chrysalis_collateral_fetches_total\{family="sev-snp",kind="crl",result="not_found"\} 2/);
});

test('real Milan report: a CRL under ARK-Milan\'s name that ARK-Milan did not sign is refused by the cache, and the report fails closed', async (t) => {
  const l = await live();
  t.teardown(() => l.kds.close());
  const arkMilan = amdAnchors().find((a) => a.generation === 'Milan')!.cert;
  const forger = createRoot([['CN', 'forger']], { notBefore: at(SNP_TIME, -30), notAfter: at(SNP_TIME, 30) });
  l.kds.vceks.set('/vcek/v1/Milan/crl', crl(arkMilan.subjectDer, forger.privateKey, at(SNP_TIME, -1), at(SNP_TIME, 6)));
  t.deepEqual(codes(await l.answer(milan, POLICY)), ['COLLATERAL_MISSING']);
  t.regex(l.sources.status(SNP_TIME).find((s) => s.kind === 'crl' && s.key === 'Milan')?.lastError ?? '', /not validly signed by ARK-Milan/);
});

// --- The simulated chain, its root standing in for ARK-Milan (the cache's arkFor). ---
const T = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now: T, days: 60 });
const rootName = parseCertificate(tee.snp.root.der).subjectDer;
const askName = parseCertificate(tee.snp.ask.der).subjectDer;

async function simulatedCache() {
  const kds = await startKds();
  const cache = new SnpVcekCache({
    kds: new AmdKdsClient({ baseUrl: kds.url }), retryAfterMs: 60_000, crlRequired: true, refreshBeforeMs: DAY, refreshIntervalMs: 3 * DAY,
    arkFor: (product) => (product === 'Milan' ? parseCertificate(tee.snp.root.der) : undefined),
  });
  const { report, vcek, chainPem } = tee.snpReport({});
  const verifyAt = async (now: Date) => {
    const amdCrls = await cache.crlsFor(report, now);
    return verifySevSnp({ report, certificates: [vcek], chain: decodeCertificates(chainPem) }, { now, policy: tee.policy(), amdCrls });
  };
  return { kds, cache, verifyAt, milanRequests: () => kds.requests.filter((r) => r.includes('/Milan/crl')).length };
}
const reasonCodes = (v: { reasons: { code: string }[] }) => [...new Set(v.reasons.map((r) => r.code))];

test('simulated ARK: a CRL is cached, refetched a refresh margin before its nextUpdate, and a newer one replaces it', async (t) => {
  const s = await simulatedCache();
  t.teardown(() => s.kds.close());
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 7)));
  t.deepEqual((await s.verifyAt(T)).reasons, []);
  t.is(s.milanRequests(), 1);
  t.deepEqual((await s.verifyAt(at(T, 2))).reasons, [], 'still fresh: no refetch');
  t.is(s.milanRequests(), 1);
  t.like(s.cache.status(at(T, 2)).find((x) => x.kind === 'crl' && x.key === 'Milan'), { state: 'fresh', nextUpdate: at(T, 7).toISOString(), source: 'endpoint' });
  // A day before nextUpdate the cache asks again and takes the newer CRL.
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, 5.5), at(T, 12.5)));
  t.deepEqual((await s.verifyAt(at(T, 6.2))).reasons, []);
  t.is(s.milanRequests(), 2);
  t.is(s.cache.status(at(T, 6.2)).find((x) => x.kind === 'crl' && x.key === 'Milan')?.nextUpdate, at(T, 12.5).toISOString());
});

test('simulated ARK: a failed or refused refetch keeps the current CRL; past its nextUpdate the report fails COLLATERAL_INVALID', async (t) => {
  const s = await simulatedCache();
  t.teardown(() => s.kds.close());
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 7)));
  t.deepEqual((await s.verifyAt(T)).reasons, []);
  // The KDS now serves an already stale CRL: refused, the current one kept.
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, -20), at(T, -10)));
  t.deepEqual((await s.verifyAt(at(T, 6.5))).reasons, []);
  t.regex(s.cache.status(at(T, 6.5)).find((x) => x.kind === 'crl' && x.key === 'Milan')?.lastError ?? '', /not current/);
  // Then it serves nothing: past nextUpdate the kept copy is stale and the verifier refuses it.
  s.kds.vceks.delete('/vcek/v1/Milan/crl');
  const late = await s.verifyAt(at(T, 8));
  t.deepEqual(reasonCodes(late), ['COLLATERAL_INVALID']);
  t.regex(late.reasons[0]!.message, /not current/);
  t.is(s.cache.status(at(T, 8)).find((x) => x.kind === 'crl' && x.key === 'Milan')?.state, 'stale');
});

test('simulated ARK: a refetched CRL that revokes the ASK makes the report CERT_REVOKED; a VCEK revoked by its ASK\'s CRL likewise', async (t) => {
  const s = await simulatedCache();
  t.teardown(() => s.kds.close());
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 7)));
  t.deepEqual((await s.verifyAt(T)).reasons, []);
  // New revocations arrive within refreshIntervalMs (3 days here), before nextUpdate.
  s.kds.vceks.set('/vcek/v1/Milan/crl', crl(rootName, tee.snp.root.privateKey, at(T, 2), at(T, 9), [tee.snp.ask]));
  const revoked = await s.verifyAt(at(T, 3.5));
  t.deepEqual(reasonCodes(revoked), ['CERT_REVOKED']);
  t.is(s.milanRequests(), 2);
  // The VCEK by its ASK's CRL (the KDS serves only the ARK's; an ASK CRL comes with the caller's list).
  const { report, vcek, chainPem } = tee.snpReport({});
  const ark = crl(rootName, tee.snp.root.privateKey, at(T, -1), at(T, 7));
  const ask = crl(askName, tee.snp.ask.privateKey, at(T, -1), at(T, 7), [tee.snp.vcek]);
  const v = verifySevSnp({ report, certificates: [vcek], chain: decodeCertificates(chainPem) }, { now: T, policy: tee.policy(), amdCrls: [ark, ask] });
  t.deepEqual(reasonCodes(v), ['CERT_REVOKED']);
});
