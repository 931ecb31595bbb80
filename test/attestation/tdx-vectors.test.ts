// The Intel TDX vectors in test/vectors/tdx: all four quotes are authentic (quote signature, QE report,
// QE binding, PCK chain to the pinned Intel root) with the claims expected.json lists; with the 2026-03
// collateral from attestation-rs the TCB status is computed from their SVNs.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { collateralFromFiles, collateralSignatureValid, parseQeIdentity, parseTcbInfo, rawMemberText, type TdxCollateral } from '../../operator/src/attestation/tdx/collateral.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { codes, expectedJson, LATE_TIME, readVector, TDX_TIME, vectorPath } from './vectors.js';

const expected = expectedJson('tdx');
const dir = vectorPath('tdx', 'attestation-rs');
export const collateral: TdxCollateral = collateralFromFiles(readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${dir}/${name}`)) })));
const noCollateral = { tdx: { collateralRequired: false } };

interface Field {
  hex: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
for (const v of expected.vectors as Record<string, any>[]) {
  const file = v.quote as string;
  test(`${file} is authentic (signatures, QE binding, PCK chain) and its claims equal expected.json`, (t) => {
    const verdict = verifyTdx({ quote: readVector('tdx', file) }, { now: TDX_TIME, policy: { ...noCollateral, debugAllowed: true } });
    t.deepEqual(verdict.reasons, []);
    const c = verdict.claims;
    const hex = (k: string) => (v[k] as Field).hex;
    t.is(c.version, v.version);
    t.is(c.bodyType, (v.v5_body_type as number | null) ?? undefined);
    t.is(c.mrTd, hex('mr_td'));
    t.deepEqual(c.rtmrs, [hex('rtmr0'), hex('rtmr1'), hex('rtmr2'), hex('rtmr3')]);
    t.is(c.mrConfigId, hex('mr_config_id'));
    t.is(c.mrOwner, hex('mr_owner'));
    t.is(c.mrOwnerConfig, hex('mr_owner_config'));
    t.is(c.mrSeam, hex('mr_seam'));
    t.is(c.mrSignerSeam, hex('mr_signer_seam'));
    t.is(c.tdAttributes, hex('td_attributes'));
    t.is(c.xfam, hex('xfam'));
    t.is(c.reportData, hex('report_data'));
    t.is(c.tcb?.teeTcbSvn, hex('tee_tcb_svn'));
    t.is(c.tcb?.pceSvn, v.pck_pcesvn);
    t.deepEqual(c.tcb?.cpuSvn, v.pck_sgx_tcb_comp_svns_1_16);
    t.is(c.tcb?.fmspc, v.pck_fmspc);
    t.is(c.tcb?.qeSvn, v.qe_isvsvn);
    t.deepEqual(c.qe, { mrEnclave: v.qe_mrenclave, mrSigner: v.qe_mrsigner, isvProdId: v.qe_isvprodid, isvSvn: v.qe_isvsvn });
    if (v.tee_tcb_svn_2) t.is(c.teeTcbSvn2, hex('tee_tcb_svn_2'));
    if (v.mr_service_td) t.is(c.mrServiceTd, hex('mr_service_td'));
    t.is(c.root, 'Intel SGX Root CA');
  });
}

test('quote_v5_sample (TDX 1.5, FMSPC 90c06f000000) verifies with collateral under the default policy: UpToDate', (t) => {
  const v = verifyTdx({ quote: readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat'), collateral }, { now: TDX_TIME });
  t.deepEqual(v.reasons, []);
  t.is(v.claims.tcbStatus, 'UpToDate');
  t.is(v.claims.tcbEvaluationDataNumber, 18);
});

test('trustee tdx_quote_4 is OutOfDate with advisories and, being a debug TD, needs debugAllowed', (t) => {
  const quote = readVector('tdx', 'trustee/tdx_quote_4.dat');
  const strict = verifyTdx({ quote, collateral }, { now: TDX_TIME });
  t.deepEqual(codes(strict), ['DEBUG_ENABLED']);
  t.true(strict.claims.debug);
  const lenient = verifyTdx({ quote, collateral }, { now: TDX_TIME, policy: { debugAllowed: true } });
  t.deepEqual(lenient.reasons, []);
  t.is(lenient.claims.tcbStatus, 'OutOfDate');
  t.true(lenient.claims.advisoryIds!.includes('INTEL-SA-01099'));
  const patchedOnly = verifyTdx({ quote, collateral }, { now: TDX_TIME, policy: { debugAllowed: true, tdx: { acceptedTcbStatuses: ['UpToDate'] } } });
  t.deepEqual(codes(patchedOnly), ['TCB_STATUS_UNACCEPTABLE']);
});

for (const file of ['go-tdx-guest/tdx_prod_quote_SPR_E4.dat', 'trustee/tdx_quote_5.dat']) {
  test(`${file}: platform SVNs are below every TCB level of its FMSPC, so the status is Unrecognized and rejected`, (t) => {
    const v = verifyTdx({ quote: readVector('tdx', file), collateral }, { now: TDX_TIME });
    t.is(v.claims.tcbStatus, 'Unrecognized');
    t.deepEqual(codes(v), ['TCB_STATUS_UNACCEPTABLE']);
  });
}

test('the 39 trailing bytes of the go-tdx-guest v4 quote are ignored', (t) => {
  const quote = readVector('tdx', 'go-tdx-guest/tdx_prod_quote_SPR_E4.dat');
  t.is(quote.length, 4974);
  t.deepEqual(verifyTdx({ quote: quote.subarray(0, 4935) }, { now: TDX_TIME, policy: noCollateral }).reasons, []);
  t.deepEqual(verifyTdx({ quote }, { now: TDX_TIME, policy: noCollateral }).reasons, []);
});

test('without collateral the default policy rejects TDX evidence with COLLATERAL_MISSING', (t) => {
  const v = verifyTdx({ quote: readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat') }, { now: TDX_TIME });
  t.deepEqual(codes(v), ['COLLATERAL_MISSING']);
});

test('at the vectors check date the collateral is stale (COLLATERAL_INVALID)', (t) => {
  const v = verifyTdx({ quote: readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat'), collateral }, { now: LATE_TIME });
  t.true(codes(v).length > 0);
  t.true(codes(v).every((c) => c === 'COLLATERAL_INVALID'));
});

test('every TCB info and QE identity file in the vectors is signed over its raw text by the Intel TCB signing key', (t) => {
  const signer = parseCertificate(decodeCertificates(readVector('tdx', 'attestation-rs/tcb_signing_chain.pem'))[0]!);
  const files = [
    ['attestation-rs/tcb_info_50806f000000.json', 'tcb'],
    ['attestation-rs/tcb_info_90c06f000000.json', 'tcb'],
    ['go-tdx-guest/sample_tcbInfo_response', 'tcb'],
    ['go-tdx-guest/sample_tcbinfo_response_v5', 'tcb'],
    ['trustee/tcbInfo.json', 'tcb'],
    ['attestation-rs/td_qe_identity.json', 'qe'],
    ['go-tdx-guest/sample_qeIdentity_response', 'qe'],
    ['trustee/enclaveIdentity.json', 'qe'],
  ] as const;
  for (const [file, kind] of files) {
    const text = readFileSync(vectorPath('tdx', file), 'utf8');
    const parsed = kind === 'tcb' ? parseTcbInfo(text) : parseQeIdentity(text);
    t.true(collateralSignatureValid(parsed, signer), file);
    // Re-serialising would change the bytes; one changed character breaks the signature.
    const tampered = parsed.signedText.replace('"version":', '"version" :');
    t.false(collateralSignatureValid({ ...parsed, signedText: tampered }, signer), `${file} (tampered)`);
  }
});

test('rawMemberText returns the exact inner object text, braces inside strings included', (t) => {
  t.is(rawMemberText('{"a":{"x":"}{"},"tcbInfo":{"k":"v}","n":{"m":1}} ,"signature":"00"}', 'tcbInfo'), '{"k":"v}","n":{"m":1}}');
  t.is(rawMemberText('{"x":{"tcbInfo":{"no":1}}}', 'tcbInfo'), undefined);
});
