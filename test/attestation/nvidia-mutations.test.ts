// Mutations of real H100 evidence: tampering anywhere in the signed message, swapped chains, a wrong
// nonce, truncation and policy violations are each rejected with their specific code.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { verifyNvidiaGpu } from '../../operator/src/attestation/nvidia/verify.js';
import type { VerifyOptions } from '../../operator/src/attestation/options.js';
import { codes, flipByte, GPU_TIME, vectorPath } from './vectors.js';

const text = (f: string) => readFileSync(vectorPath('nvidia-h100', f), 'utf8');
const evidence = fromHex(text('nvtrust/hopperAttestationReport.txt'));
const chain = decodeCertificates(text('nvtrust/hopperCertChain.txt'));
const otherChain = decodeCertificates(text('trustee/hopper_coco_certs1.txt'));
const nonce = fromHex('931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb');
const SIGNED_LEN = 4021;
const RECORD_START = 37 + 8;
const run = (e: Uint8Array, o: Partial<VerifyOptions> = {}, c: Uint8Array[] = chain) => verifyNvidiaGpu({ evidence: e, chain: c }, { now: GPU_TIME, nonce, ...o });

test('the unmutated evidence verifies with its nonce (the baseline)', (t) => {
  t.deepEqual(run(evidence).reasons, []);
});

test('flipping a byte of the request nonce, responder nonce or any measurement digest is SIGNATURE_INVALID', (t) => {
  const offsets = [4, 20, 35];
  for (let block = 0; block < 64; block++) offsets.push(RECORD_START + block * 55 + 7, RECORD_START + block * 55 + 54);
  offsets.push(RECORD_START + 3520, RECORD_START + 3520 + 31);
  for (const offset of offsets) {
    const v = run(flipByte(evidence, offset), { nonce: undefined });
    if (codes(v).join() !== 'SIGNATURE_INVALID') t.fail(`offset ${offset}: ${JSON.stringify(v.reasons)}`);
  }
  t.pass();
});

test('flipping any byte of the signed message never verifies (structure bytes: MALFORMED_EVIDENCE)', (t) => {
  for (let offset = 0; offset < SIGNED_LEN; offset += 3) {
    const v = run(flipByte(evidence, offset), { nonce: undefined });
    t.false(v.verified);
    const first = codes(v)[0];
    if (first !== 'SIGNATURE_INVALID' && first !== 'MALFORMED_EVIDENCE') t.fail(`offset ${offset}: ${JSON.stringify(v.reasons)}`);
  }
});

test('flipping any byte of the 96-byte signature is SIGNATURE_INVALID', (t) => {
  for (let offset = SIGNED_LEN; offset < SIGNED_LEN + 96; offset++) {
    if (codes(run(flipByte(evidence, offset))).join() !== 'SIGNATURE_INVALID') t.fail(`offset ${offset}`);
  }
  t.pass();
});

test('truncated evidence, and non-zero bytes after the signature, are MALFORMED_EVIDENCE', (t) => {
  for (const bytes of [evidence.subarray(0, evidence.length - 1), evidence.subarray(0, 37), evidence.subarray(0, 100), new Uint8Array([...evidence, 1])]) {
    t.deepEqual(codes(run(bytes)), ['MALFORMED_EVIDENCE']);
  }
});

test('a wrong nonce is NONCE_MISMATCH, and so is a nonce of the wrong length', (t) => {
  t.deepEqual(codes(run(evidence, { nonce: flipByte(nonce, 0) })), ['NONCE_MISMATCH']);
  t.deepEqual(codes(run(evidence, { nonce: nonce.subarray(0, 16) })), ['NONCE_MISMATCH']);
});

test('another GPU\'s chain is SIGNATURE_INVALID and CERT_MISMATCH (FWID differs)', (t) => {
  t.deepEqual(codes(run(evidence, {}, otherChain)), ['SIGNATURE_INVALID', 'CERT_MISMATCH']);
});

test('swapping one intermediate for the other device\'s BROM certificate is CHAIN_UNTRUSTED', (t) => {
  t.is(codes(run(evidence, {}, [chain[0]!, otherChain[1]!, ...chain.slice(2)]))[0], 'CHAIN_UNTRUSTED');
});

test('a leaf certificate with a flipped signature byte is CHAIN_UNTRUSTED', (t) => {
  const leaf = chain[0]!;
  t.is(codes(run(evidence, {}, [flipByte(leaf, leaf.length - 5), ...chain.slice(1)]))[0], 'CHAIN_UNTRUSTED');
});

test('before the device certificates were issued the evidence is CERT_NOT_YET_VALID', (t) => {
  t.true(codes(run(evidence, { now: new Date('2000-01-01T00:00:00Z') })).includes('CERT_NOT_YET_VALID'));
});

test('driver and VBIOS allow lists: listed versions pass (case-insensitive), others are VERSION_NOT_ALLOWED', (t) => {
  t.true(run(evidence, { policy: { gpu: { driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9f.00.01'] } } }).verified);
  t.deepEqual(codes(run(evidence, { policy: { gpu: { driverVersions: ['580.95.05'] } } })), ['VERSION_NOT_ALLOWED']);
  t.deepEqual(codes(run(evidence, { policy: { gpu: { vbiosVersions: ['96.00.74.00.1A'] } } })), ['VERSION_NOT_ALLOWED']);
});

test('evidence older than the policy allows is EVIDENCE_TOO_OLD', (t) => {
  t.deepEqual(codes(run(evidence, { policy: { maxEvidenceAgeSeconds: 10 }, nonceIssuedAt: new Date(GPU_TIME.getTime() - 11_000) })), ['EVIDENCE_TOO_OLD']);
});

test('a chain file with no certificates is COLLATERAL_MISSING or MALFORMED_EVIDENCE, never verified', (t) => {
  t.deepEqual(codes(run(evidence, {}, [])), ['COLLATERAL_MISSING']);
  t.deepEqual(codes(verifyNvidiaGpu({ evidence, chain: 'not a chain' }, { now: GPU_TIME })), ['MALFORMED_EVIDENCE']);
});
