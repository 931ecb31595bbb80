// Cocoon's TDX image hash, pinned independently of the code under test: the registers are cut out of each
// real quote at the offsets expected.json lists, laid out as Cocoon serialises its attestation data with the
// report data zeroed (MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0..3 ‖ 64 zero bytes, raw, no length
// prefixes) and hashed by the openssl command line. An allow list copied from Cocoon must admit the image;
// an entry computed with the pre-0.2 formula (no zero bytes) must be refused with a message that says so.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { verifyTdx } from '../../operator/src/attestation/tdx/verify.js';
import type { VerifierPolicy } from '../../operator/src/attestation/policy.js';
import { codes, expectedJson, readVector, TDX_TIME } from './vectors.js';

const expected = expectedJson('tdx');
const REGISTERS = ['mr_td', 'mr_config_id', 'mr_owner', 'mr_owner_config', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const;
// The vectors' collateral is judged elsewhere (tdx-vectors.test.ts); trustee's quotes are debug TDs.
const base: VerifierPolicy = { tdx: { collateralRequired: false }, debugAllowed: true };

function opensslSha256(bytes: Buffer): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: bytes, encoding: 'utf8' });
  const hex = out.split(' ')[0]!;
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`unexpected openssl output: ${out}`);
  return hex;
}

interface Field {
  offset: string;
  hex: string;
}

/** The eight 48-byte registers, sliced from the raw quote file at expected.json's offsets. */
function registersOf(v: Record<string, Field>, quote: Uint8Array): Buffer[] {
  return REGISTERS.map((name) => {
    const offset = Number(v[name]!.offset);
    const bytes = Buffer.from(quote.subarray(offset, offset + 48));
    if (bytes.toString('hex') !== v[name]!.hex) throw new Error(`${name} at ${v[name]!.offset} is not expected.json's value`);
    return bytes;
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
for (const v of expected.vectors as Record<string, any>[]) {
  const file = v.quote as string;
  const quote = readVector('tdx', file);
  const registers = registersOf(v, quote);
  const cocoon = opensslSha256(Buffer.concat([...registers, Buffer.alloc(64)]));
  const legacy = opensslSha256(Buffer.concat(registers));

  test(`${file}: the claimed image hash is Cocoon's (SHA-256 of the eight registers and 64 zero report-data bytes, by openssl)`, (t) => {
    t.is(Buffer.concat([...registers, Buffer.alloc(64)]).length, 8 * 48 + 64);
    const verdict = verifyTdx({ quote }, { now: TDX_TIME, policy: base });
    t.deepEqual(verdict.reasons, []);
    t.is(verdict.claims.imageHash, cocoon);
  });

  test(`${file}: an allow list copied from Cocoon admits the image`, (t) => {
    const verdict = verifyTdx({ quote }, { now: TDX_TIME, policy: { ...base, allowedImageHashes: [cocoon] } });
    t.deepEqual(verdict.reasons, []);
    t.true(verdict.verified);
  });

  test(`${file}: an allow list entry written with the pre-0.2 formula is refused, naming the Cocoon-format hash`, (t) => {
    const verdict = verifyTdx({ quote }, { now: TDX_TIME, policy: { ...base, allowedImageHashes: ['11'.repeat(32), legacy] } });
    t.false(verdict.verified);
    t.deepEqual(codes(verdict), ['MEASUREMENT_NOT_ALLOWED']);
    const message = verdict.reasons[0]!.message;
    t.true(message.includes(legacy), message);
    t.true(message.includes(`this allow list entry is the pre-0.2 image hash (without the 64 zero report-data bytes); the Cocoon-format hash of this image is ${cocoon}`), message);
  });
}

test('an unrelated allow list entry is refused without the pre-0.2 explanation', (t) => {
  const quote = readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat');
  const verdict = verifyTdx({ quote }, { now: TDX_TIME, policy: { ...base, allowedImageHashes: ['11'.repeat(32)] } });
  t.deepEqual(codes(verdict), ['MEASUREMENT_NOT_ALLOWED']);
  t.false(verdict.reasons[0]!.message.includes('pre-0.2'), verdict.reasons[0]!.message);
});

test('a list holding both the pre-0.2 and the Cocoon-format hash admits the image', (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const v = (expected.vectors as Record<string, any>[]).find((x) => x.quote === 'go-tdx-guest/quote_v5_sample.dat')!;
  const quote = readVector('tdx', v.quote);
  const registers = registersOf(v, quote);
  const hashes = [opensslSha256(Buffer.concat(registers)), opensslSha256(Buffer.concat([...registers, Buffer.alloc(64)]))];
  t.true(verifyTdx({ quote }, { now: TDX_TIME, policy: { ...base, allowedImageHashes: hashes } }).verified);
});
