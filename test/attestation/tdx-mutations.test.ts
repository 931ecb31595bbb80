// Mutations of real TDX evidence and collateral: each is rejected with its specific code.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { collateralFromFiles, type TdxCollateral } from '../../operator/src/attestation/tdx/collateral.js';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import type { VerifyOptions } from '../../operator/src/attestation/options.js';
import { codes, flipByte, readVector, TDX_TIME, vectorPath } from './vectors.js';

const dir = vectorPath('tdx', 'attestation-rs');
const files = readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${dir}/${name}`)) }));
const collateral: TdxCollateral = collateralFromFiles(files);
const quote = readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat');
const reportData = fromHex('945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a');
const run = (q: Uint8Array, o: Partial<VerifyOptions> = {}, c: TdxCollateral = collateral) => verifyTdx({ quote: q, collateral: c }, { now: TDX_TIME, ...o });
// v5 type 3 offsets (SOURCE.md): body ends 0x2BE, quote signature at 0x2C2, AK at 0x302, QE report at 0x348.
const E = 0x2be;

test('the unmutated v5 quote verifies with its report_data as nonce (the baseline)', (t) => {
  t.deepEqual(run(quote, { nonce: reportData }).reasons, []);
});

test('flipping any byte of the TD report body is SIGNATURE_INVALID', (t) => {
  for (let offset = 0x36; offset < E; offset++) {
    const v = run(flipByte(quote, offset), {}, {});
    if (codes(v)[0] !== 'SIGNATURE_INVALID') t.fail(`offset 0x${offset.toString(16)}: ${JSON.stringify(v.reasons)}`);
  }
  t.pass();
});

test('flipping header bytes is SIGNATURE_INVALID or, for structural fields, MALFORMED_EVIDENCE / QE_IDENTITY_MISMATCH', (t) => {
  for (let offset = 0; offset < 0x36; offset++) {
    const v = run(flipByte(quote, offset), {}, {});
    t.false(v.verified);
    t.true(['SIGNATURE_INVALID', 'MALFORMED_EVIDENCE', 'QE_IDENTITY_MISMATCH'].includes(codes(v)[0]!), `offset ${offset}: ${JSON.stringify(v.reasons)}`);
  }
});

test('flipping the quote signature, the attestation key, the QE report or its signature is SIGNATURE_INVALID', (t) => {
  for (const offset of [E + 4, E + 4 + 63, E + 68, E + 68 + 63, E + 138, E + 138 + 320, E + 138 + 383, E + 522, E + 585, E + 588]) {
    const v = run(flipByte(quote, offset), {}, {});
    if (codes(v)[0] !== 'SIGNATURE_INVALID') t.fail(`offset 0x${offset.toString(16)}: ${JSON.stringify(v.reasons)}`);
  }
  t.pass();
});

test('a truncated quote is MALFORMED_EVIDENCE', (t) => {
  for (const n of [0, 47, 0x2be, 0x2c2 + 100, quote.length - 200]) t.deepEqual(codes(run(quote.subarray(0, n))), ['MALFORMED_EVIDENCE']);
});

test('a wrong nonce is NONCE_MISMATCH; a shorter nonce is compared zero-padded to 64 bytes', (t) => {
  t.deepEqual(codes(run(quote, { nonce: flipByte(reportData, 63) })), ['NONCE_MISMATCH']);
  t.deepEqual(codes(run(quote, { nonce: reportData.subarray(0, 32) })), ['NONCE_MISMATCH']);
});

test('a public key not bound by report_data is BINDING_MISMATCH', (t) => {
  t.deepEqual(codes(run(quote, { nonce: reportData.subarray(0, 32), publicKey: new Uint8Array(32) })), ['BINDING_MISMATCH']);
});

test('after the PCK leaf expires the quote is CERT_EXPIRED', (t) => {
  t.true(codes(run(quote, { now: new Date('2034-01-01T00:00:00Z') }, {})).includes('CERT_EXPIRED'));
});

test('collateral for another FMSPC only is COLLATERAL_MISSING', (t) => {
  const other = collateralFromFiles(files.filter((f) => !f.name.includes('90c06f')));
  t.deepEqual(codes(run(quote, {}, other)), ['COLLATERAL_MISSING']);
});

test('a TCB info edited after signing is COLLATERAL_INVALID', (t) => {
  const tcbInfos = collateral.tcbInfos!.map((text) => text.replace('"tcbEvaluationDataNumber":18', '"tcbEvaluationDataNumber":19'));
  t.deepEqual(codes(run(quote, {}, { ...collateral, tcbInfos })), ['COLLATERAL_INVALID']);
});

test('a QE identity edited after signing is COLLATERAL_INVALID', (t) => {
  const qeIdentities = collateral.qeIdentities!.map((text) => text.replace('"isvsvn":4', '"isvsvn":3'));
  t.deepEqual(codes(run(quote, {}, { ...collateral, qeIdentities })), ['COLLATERAL_INVALID']);
});

test('a CRL with a broken signature is COLLATERAL_INVALID; a missing CRL is COLLATERAL_MISSING', (t) => {
  const crls = collateral.crls!.map((der) => flipByte(der, der.length - 3));
  t.deepEqual([...new Set(codes(run(quote, {}, { ...collateral, crls })))], ['COLLATERAL_INVALID']);
  t.deepEqual(codes(run(quote, {}, { ...collateral, crls: collateral.crls!.slice(0, 1) })), ['COLLATERAL_MISSING']);
});

test('collateral without the TCB signing chain is COLLATERAL_MISSING', (t) => {
  t.deepEqual(codes(run(quote, {}, { ...collateral, issuerChain: [] })), ['COLLATERAL_MISSING']);
});

test('a quoting enclave older than the policy minimum is TCB_TOO_LOW', (t) => {
  const v = run(quote, { policy: { tdx: { acceptedTcbStatuses: ['UpToDate'] }, minimumTcb: { qeSvn: 8 } } });
  t.deepEqual(codes(v), ['TCB_TOO_LOW']);
});

test('minimum TCB: TDX module SVN, TEE_TCB_SVN components and PCESVN below the minimum are TCB_TOO_LOW', (t) => {
  t.true(run(quote, { policy: { minimumTcb: { tdxModuleSvn: 11, pceSvn: 13, qeSvn: 7 } } }).verified);
  t.deepEqual(codes(run(quote, { policy: { minimumTcb: { tdxModuleSvn: 12 } } })), ['TCB_TOO_LOW']);
  t.deepEqual(codes(run(quote, { policy: { minimumTcb: { pceSvn: 14 } } })), ['TCB_TOO_LOW']);
  t.deepEqual(codes(run(quote, { policy: { minimumTcb: { tdxTeeTcbSvn: [0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } } })), ['TCB_TOO_LOW']);
});

test('MRTD and image-hash allow lists: MEASUREMENT_NOT_ALLOWED when absent from them', (t) => {
  const base = run(quote);
  const c = base.claims;
  const registers = [c.mrTd!, c.mrConfigId!, c.mrOwner!, c.mrOwnerConfig!, ...c.rtmrs!].map((h) => Buffer.from(h, 'hex'));
  t.is(c.imageHash, createHash('sha256').update(Buffer.concat([...registers, Buffer.alloc(64)])).digest('hex'), 'Cocoon: the registers and 64 zeroed report-data bytes');
  t.true(run(quote, { policy: { allowedMeasurements: [base.claims.mrTd!], allowedImageHashes: [base.claims.imageHash!] } }).verified);
  t.deepEqual(codes(run(quote, { policy: { allowedMeasurements: ['11'.repeat(48)] } })), ['MEASUREMENT_NOT_ALLOWED']);
  t.deepEqual(codes(run(quote, { policy: { allowedImageHashes: ['11'.repeat(32)] } })), ['MEASUREMENT_NOT_ALLOWED']);
});
