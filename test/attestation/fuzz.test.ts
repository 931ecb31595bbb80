// Property-based fuzzing (fast-check) of every parser and verifier: malformed input yields a typed
// AttestationError (parsers) or a verdict with reasons (verifiers); never another exception, never
// `verified: true`.
import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { AttestationError, REASON_CODES } from '../../operator/src/attestation/reasons.js';
import { children, readNode, readSingle } from '../../operator/src/attestation/der.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { parseCrl } from '../../operator/src/attestation/crl.js';
import { decodeCertificates, decodeEvidenceBytes } from '../../operator/src/attestation/evidence-input.js';
import { parseSnpReport } from '../../operator/src/attestation/sev-snp/report.js';
import { parseHclReport } from '../../operator/src/attestation/sev-snp/hcl.js';
import { parseSpdmEvidence } from '../../operator/src/attestation/nvidia/spdm.js';
import { parseOpaqueData } from '../../operator/src/attestation/nvidia/opaque.js';
import { parseTdxQuote } from '../../operator/src/attestation/tdx/quote.js';
import { parseQeIdentity, parseTcbInfo, rawMemberText } from '../../operator/src/attestation/tdx/collateral.js';
import { parsePolicy } from '../../operator/src/attestation/policy.js';
import { verifyEvidence } from '../../operator/src/attestation/verify.js';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { fromHex } from '../../operator/src/attestation/bytes.js';
import { collateralFromFiles } from '../../operator/src/attestation/tdx/collateral.js';
import { readdirSync } from 'node:fs';
import { certsOf, GPU_TIME, readVector, SNP_TIME, TDX_TIME, vectorPath } from './vectors.js';

const RUNS = 300;

/** The parser either returns or throws an AttestationError with a known code. */
function typedOrOk(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof AttestationError && (REASON_CODES as readonly string[]).includes(err.code);
  }
}

/** Random bytes, and real vectors truncated, extended or with random bytes overwritten. */
function around(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .array(fc.tuple(fc.nat({ max: seed.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
    .map((edits) => {
      const copy = Uint8Array.from(seed);
      for (const [i, v] of edits) copy[i] = v;
      return copy;
    });
  const truncated = fc.nat({ max: seed.length }).map((n) => seed.subarray(0, n));
  const extended = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => new Uint8Array([...seed, ...tail]));
  return fc.oneof(fc.uint8Array({ maxLength: 2 * seed.length }), mutated, truncated, extended);
}

const snpReport = readVector('sev-snp', 'trustee/test-report.bin');
const hclReport = readVector('sev-snp', 'attestation-rs-azure/hcl-report.bin');
const gpuEvidence = fromHex(readFileSync(vectorPath('nvidia-h100', 'nvtrust/hopperAttestationReport.txt'), 'utf8'));
const gpuChain = readFileSync(vectorPath('nvidia-h100', 'nvtrust/hopperCertChain.txt'), 'utf8');
const tdxQuote = readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat');
const vcek = certsOf('sev-snp', 'trustee/test-vcek.der')[0]!;
const crl = readVector('tdx', 'attestation-rs/pck_crl_platform.der');
const tcbInfoText = readFileSync(vectorPath('tdx', 'attestation-rs/tcb_info_90c06f000000.json'), 'utf8');
const qeIdentityText = readFileSync(vectorPath('tdx', 'attestation-rs/td_qe_identity.json'), 'utf8');
const collateralDir = vectorPath('tdx', 'attestation-rs');
const collateral = collateralFromFiles(readdirSync(collateralDir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${collateralDir}/${name}`)) })));

const parsers: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
  ['the SNP report parser', snpReport, parseSnpReport],
  ['the Azure HCL parser', hclReport, parseHclReport],
  ['the SPDM parser', gpuEvidence, parseSpdmEvidence],
  ['the opaque-data parser', gpuEvidence.subarray(3589, 4011), parseOpaqueData],
  ['the TDX quote parser', tdxQuote, parseTdxQuote],
  ['the certificate parser', vcek, parseCertificate],
  ['the CRL parser', crl, parseCrl],
  [
    'the DER reader',
    vcek,
    (b) => {
      const n = readSingle(b);
      if (n.tag & 0x20) children(n).forEach((c) => (c.tag & 0x20 ? children(c) : readNode(c.content)));
    },
  ],
  ['the certificate decoder', vcek, (b) => decodeCertificates(b)],
  ['the evidence decoder', snpReport, (b) => decodeEvidenceBytes(b, (x) => x.length === 0x4a0)],
];

for (const [name, seed, parse] of parsers) {
  test(`${name} gives a typed error or a value on arbitrary and mutated input, never another exception`, (t) => {
    fc.assert(fc.property(around(seed), (bytes) => typedOrOk(() => parse(bytes))), { numRuns: RUNS });
    t.pass();
  });
}

test('the collateral JSON parsers and raw-text scanner never throw untyped errors', (t) => {
  const text = fc.oneof(
    fc.string({ maxLength: 400 }),
    fc.nat({ max: tcbInfoText.length }).map((n) => tcbInfoText.slice(0, n)),
    fc.tuple(fc.nat({ max: qeIdentityText.length - 1 }), fc.string({ maxLength: 3 })).map(([i, s]) => qeIdentityText.slice(0, i) + s + qeIdentityText.slice(i + 1)),
  );
  fc.assert(
    fc.property(text, (s) => {
      rawMemberText(s, 'tcbInfo');
      return typedOrOk(() => parseTcbInfo(s)) && typedOrOk(() => parseQeIdentity(s));
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('the policy parser accepts or rejects arbitrary JSON with POLICY_INVALID, never another exception', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
      try {
        parsePolicy(value);
        return true;
      } catch (err) {
        // null is "no policy", which is POLICY_NOT_FOUND; anything else unusable is POLICY_INVALID.
        return err instanceof AttestationError && err.code === (value === null ? 'POLICY_NOT_FOUND' : 'POLICY_INVALID');
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

/** Flips at least one byte inside [start, end): the region a signature covers. */
function signedMutation(seed: Uint8Array, start: number, end: number): fc.Arbitrary<Uint8Array> {
  return fc.array(fc.tuple(fc.integer({ min: start, max: end - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
    const copy = Uint8Array.from(seed);
    for (const [i, x] of edits) copy[i] = copy[i]! ^ x;
    return copy;
  });
}

function neverVerified(v: { verified: boolean; reasons: { code: string }[] }): boolean {
  return !v.verified && v.reasons.length > 0 && v.reasons.every((r) => (REASON_CODES as readonly string[]).includes(r.code));
}

test('the SEV-SNP verifier never verifies random bytes or a report changed inside its signed region or signature', (t) => {
  const arb = fc.oneof(fc.uint8Array({ maxLength: 1300 }), signedMutation(snpReport, 0, 0x330), fc.nat({ max: 0x49f }).map((n) => snpReport.subarray(0, n)));
  fc.assert(fc.property(arb, (bytes) => neverVerified(verifyEvidence({ type: 'sev-snp', evidence: bytes, cert: vcek }, { now: SNP_TIME }))), { numRuns: 150 });
  t.pass();
});

test('the NVIDIA verifier never verifies random bytes or evidence changed inside its signed message or signature', (t) => {
  const arb = fc.oneof(fc.uint8Array({ maxLength: 4200 }), signedMutation(gpuEvidence, 0, 4117), fc.nat({ max: 4116 }).map((n) => gpuEvidence.subarray(0, n)));
  fc.assert(fc.property(arb, (bytes) => neverVerified(verifyEvidence({ type: 'nvidia-gpu', evidence: bytes, chain: gpuChain }, { now: GPU_TIME }))), { numRuns: 100 });
  t.pass();
});

test('the TDX verifier never verifies random bytes or a quote changed before the end of its signature data', (t) => {
  const arb = fc.oneof(fc.uint8Array({ maxLength: 5200 }), signedMutation(tdxQuote, 0, 0x2be + 4 + 0x248), fc.nat({ max: tdxQuote.length - 1 }).map((n) => tdxQuote.subarray(0, n)));
  fc.assert(fc.property(arb, (bytes) => neverVerified(verifyEvidence({ type: 'tdx', evidence: bytes, collateral }, { now: TDX_TIME }))), { numRuns: 100 });
  t.pass();
});

test('the bundle verifier never verifies arbitrary JSON', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => neverVerified(verifyEvidenceBundle(value as never, { nonce: new Uint8Array(32), now: SNP_TIME }))),
    { numRuns: RUNS },
  );
  t.pass();
});
