// Every SEV-SNP vector in test/vectors/sev-snp verifies (or is rejected) exactly as its SOURCE.md and
// expected.json say, at a time inside the certificates' validity.
import test from 'ava';
import { verifyAmdSigningCertificate, verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { verifyChain } from '../../operator/src/attestation/chain.js';
import { amdAnchors } from '../../operator/src/attestation/sev-snp/amd-roots.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { certsOf, codes, expectedJson, LATE_TIME, readVector, SNP_TIME } from './vectors.js';

const expected = expectedJson('sev-snp');

interface ExpectedReport {
  report: string;
  container: string;
  signer_cert: string;
  chain_bundle: string;
  version: number;
  guest_svn: number;
  policy: string;
  vmpl: number;
  'signing_key(0=VCEK,1=VLEK)': number;
  platform_info: string;
  report_data: string;
  measurement: string;
  host_data: string;
  id_key_digest: string;
  reported_tcb: string;
  current_tcb: string;
  committed_tcb: string;
  launch_tcb: string;
  chip_id: string;
  report_id: string;
}

function signerCerts(ref: string): Uint8Array[] {
  // "attestation-rs-azure/vcek.pem#1" names the first certificate of a bundle: pass the whole bundle,
  // the verifier takes the first as the signer and the rest as chain candidates.
  return certsOf('sev-snp', ref.split('#')[0]!);
}

const permissive = { debugAllowed: true };

for (const v of expected.vectors as ExpectedReport[]) {
  test(`${v.report} verifies with its signer at ${SNP_TIME.toISOString().slice(0, 10)} and its claims equal expected.json`, (t) => {
    const verdict = verifySevSnp({ report: readVector('sev-snp', v.report), certificates: signerCerts(v.signer_cert) }, { now: SNP_TIME, policy: permissive });
    t.deepEqual(verdict.reasons, []);
    t.true(verdict.verified);
    const c = verdict.claims;
    t.is(c.version, v.version);
    t.is(c.guestSvn, v.guest_svn);
    t.is(c.policy, v.policy);
    t.is(c.vmpl, v.vmpl);
    t.is(c.signingKey, v['signing_key(0=VCEK,1=VLEK)'] === 1 ? 'vlek' : 'vcek');
    t.is(c.platformInfo, v.platform_info);
    t.is(c.reportData, v.report_data);
    t.is(c.measurement, v.measurement);
    t.is(c.hostData, v.host_data);
    t.is(c.idKeyDigest, v.id_key_digest);
    t.is(c.tcb?.raw, v.reported_tcb);
    t.is(c.currentTcb, v.current_tcb);
    t.is(c.committedTcb, v.committed_tcb);
    t.is(c.launchTcb, v.launch_tcb);
    t.is(c.chipId, v.chip_id);
    t.is(c.reportId, v.report_id);
    t.is(c.generation, 'Milan');
    t.is(c.root, 'ARK-Milan');
    t.false(c.simulated);
    t.is(c.azureHcl, v.container === 'raw@0x20' ? true : undefined);
  });

  test(`${v.report} verifies with the explicit chain bundle ${v.chain_bundle}`, (t) => {
    const [bundle, which] = v.chain_bundle.split('#');
    let chain = certsOf('sev-snp', bundle!);
    if (which === '23') chain = chain.slice(1);
    const verdict = verifySevSnp({ report: readVector('sev-snp', v.report), certificates: signerCerts(v.signer_cert).slice(0, 1), chain }, { now: SNP_TIME, policy: permissive });
    t.deepEqual(verdict.reasons, []);
  });
}

test('the VCEK SPL extensions equal the reported_tcb components for every vector certificate', (t) => {
  for (const [file, facts] of Object.entries(expected.vcek_vlek_certs as Record<string, { blSPL: number; teeSPL: number; snpSPL: number; ucodeSPL: number }>)) {
    if (file.includes('invalid') || file.includes('turin')) continue;
    const v = (expected.vectors as ExpectedReport[]).find((x) => x.signer_cert.split('#')[0] === file)!;
    const verdict = verifySevSnp({ report: readVector('sev-snp', v.report), certificates: signerCerts(file) }, { now: SNP_TIME, policy: permissive });
    t.like(verdict.claims.tcb, { bootloader: facts.blSPL, tee: facts.teeSPL, snp: facts.snpSPL, microcode: facts.ucodeSPL }, file);
  }
});

test('go-sev-guest/attestation.bin is rejected under the default policy because its guest policy allows debugging', (t) => {
  const verdict = verifySevSnp({ report: readVector('sev-snp', 'go-sev-guest/attestation.bin'), certificates: certsOf('sev-snp', 'go-sev-guest/vcek.testcer') }, { now: SNP_TIME });
  t.false(verdict.verified);
  t.deepEqual(codes(verdict), ['DEBUG_ENABLED']);
  t.true(verdict.claims.debug);
});

test('the reports without the debug bit verify under the default policy', (t) => {
  for (const [report, cert] of [
    ['virtee-sev/report_milan.hex', 'virtee-sev/vcek_milan.der'],
    ['trustee/test-report.bin', 'trustee/test-vcek.der'],
    ['trustee/test-vlek-report.bin', 'trustee/test-vlek.der'],
    ['attestation-rs-azure/hcl-report.bin', 'attestation-rs-azure/vcek.pem'],
  ] as const) {
    const verdict = verifySevSnp({ report: readVector('sev-snp', report), certificates: certsOf('sev-snp', cert) }, { now: SNP_TIME });
    t.true(verdict.verified, `${report}: ${JSON.stringify(verdict.reasons)}`);
  }
});

test('the trustee VLEK is expired at the vectors check date and the report is rejected with CERT_EXPIRED', (t) => {
  const verdict = verifySevSnp({ report: readVector('sev-snp', 'trustee/test-vlek-report.bin'), certificates: certsOf('sev-snp', 'trustee/test-vlek.der') }, { now: LATE_TIME });
  t.deepEqual(codes(verdict), ['CERT_EXPIRED']);
});

test('the trustee VCEK does not chain through the Genoa bundle (wrong generation)', (t) => {
  const verdict = verifySevSnp(
    { report: readVector('sev-snp', 'trustee/test-report.bin'), certificates: certsOf('sev-snp', 'trustee/test-vcek.der'), chain: certsOf('sev-snp', 'go-sev-guest/ask_ark_genoa.pem') },
    { now: SNP_TIME },
  );
  t.is(codes(verdict)[0], 'CHAIN_UNTRUSTED');
});

test('the trustee VCEK does not chain through the Milan VLEK bundle (ASVK is not its issuer)', (t) => {
  const verdict = verifySevSnp(
    { report: readVector('sev-snp', 'trustee/test-report.bin'), certificates: certsOf('sev-snp', 'trustee/test-vcek.der'), chain: certsOf('sev-snp', 'go-sev-guest/ask_ark_milan_vlek.pem') },
    { now: SNP_TIME },
  );
  t.is(codes(verdict)[0], 'CHAIN_UNTRUSTED');
});

for (const bad of ['trustee/test-vcek-invalid-legacy.der', 'trustee/test-vcek-invalid-new.der']) {
  test(`the deliberately edited ${bad} is rejected: its ASK signature fails (CHAIN_UNTRUSTED)`, (t) => {
    const verdict = verifySevSnp({ report: readVector('sev-snp', 'trustee/test-report.bin'), certificates: certsOf('sev-snp', bad) }, { now: SNP_TIME });
    t.false(verdict.verified);
    t.is(codes(verdict)[0], 'CHAIN_UNTRUSTED');
  });

  test(`the hwID of ${bad} decodes to the 64 bytes expected.json lists (both encodings)`, (t) => {
    const verdict = verifyAmdSigningCertificate(certsOf('sev-snp', bad)[0]!, { now: SNP_TIME });
    t.is(verdict.claims.hwId, '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
    t.is(codes(verdict)[0], 'CHAIN_UNTRUSTED');
  });
}

test('the Turin VCEK chains to the pinned ARK-Turin and carries an 8-byte hwID', (t) => {
  const verdict = verifyAmdSigningCertificate(certsOf('sev-snp', 'virtee-sev/vcek_turin.der')[0]!, { now: SNP_TIME });
  t.deepEqual(verdict.reasons, []);
  t.is(verdict.claims.generation, 'Turin');
  t.is(verdict.claims.root, 'ARK-Turin');
  t.is(verdict.claims.hwId, expected.vcek_vlek_certs['virtee-sev/vcek_turin.der'].hwID);
});

test('the Turin VCEK is rejected by the Milan bundle', (t) => {
  const verdict = verifyAmdSigningCertificate(certsOf('sev-snp', 'virtee-sev/vcek_turin.der')[0]!, { now: SNP_TIME, chain: certsOf('sev-snp', 'go-sev-guest/ask_ark_milan.pem') });
  t.is(codes(verdict)[0], 'CHAIN_UNTRUSTED');
});

test('every ASK and ASVK bundle chains to the pinned ARK of its generation (Milan, Genoa, Turin; VCEK and VLEK)', (t) => {
  for (const [bundle, ark] of [
    ['ask_ark_milan', 'ARK-Milan'],
    ['ask_ark_genoa', 'ARK-Genoa'],
    ['ask_ark_turin_vcek', 'ARK-Turin'],
    ['ask_ark_milan_vlek', 'ARK-Milan'],
    ['ask_ark_genoa_vlek', 'ARK-Genoa'],
    ['ask_ark_turin_vlek', 'ARK-Turin'],
  ] as const) {
    const [ask] = certsOf('sev-snp', `go-sev-guest/${bundle}.pem`);
    // The ASK is checked as what it is, a CA certificate, not as a signer of evidence.
    const result = verifyChain(parseCertificate(ask!), [], amdAnchors(), SNP_TIME, { leafKeyUsage: { usage: 'keyCertSign', required: true } });
    t.true(result.ok, bundle);
    if (result.ok) {
      t.is(result.anchor.name, ark);
      t.deepEqual(result.reasons, []);
    }
  }
});

test('an ARK look-alike (the Genoa ARK presented as the Milan root) is not trusted', (t) => {
  const [milanAsk] = certsOf('sev-snp', 'go-sev-guest/ask_ark_milan.pem');
  const result = verifyChain(parseCertificate(milanAsk!), [], amdAnchors().filter((a) => a.generation !== 'Milan'), SNP_TIME);
  t.false(result.ok);
});

test('a report without any signing certificate is COLLATERAL_MISSING', (t) => {
  const verdict = verifySevSnp({ report: readVector('sev-snp', 'trustee/test-report.bin') }, { now: SNP_TIME });
  t.deepEqual(codes(verdict), ['COLLATERAL_MISSING']);
});
