// Fuzzing the RIM reader (fast-check): a real NVIDIA RIM with any one byte changed is refused with known
// reason codes, or, where XML says the change means nothing (whitespace inside a tag, CR for LF), still
// verifies with exactly the same reference values: no change makes it say anything else. Arbitrary text
// never verifies; nothing throws.
import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { REASON_CODES } from '../../operator/src/attestation/reasons.js';
import { verifyRim } from '../../operator/src/attestation/nvidia/rim.js';
import { nvidiaRimAnchor } from '../../operator/src/attestation/nvidia/rim-root.js';
import { GPU_TIME, vectorPath } from './vectors.js';

const rim = new Uint8Array(readFileSync(vectorPath('nvidia-h100', 'nvtrust/1010_0200_882_960074001A_PROD.swidtag')));
const anchors = [nvidiaRimAnchor()];
const refused = (bytes: Uint8Array) => {
  const v = verifyRim(bytes, anchors, GPU_TIME);
  return !v.ok && v.reasons.length > 0 && v.reasons.every((r) => (REASON_CODES as readonly string[]).includes(r.code));
};

test('the real RIM verifies unchanged (the property below is not vacuous)', (t) => {
  t.true(verifyRim(rim, anchors, GPU_TIME).ok);
});

const original = verifyRim(rim, anchors, GPU_TIME);
const meaning = (v: ReturnType<typeof verifyRim>) => (v.ok ? JSON.stringify({ ...v.manifest, measurements: [...v.manifest.measurements.values()] }) : undefined);

test('a real RIM with any one byte changed is refused or says exactly what it said', (t) => {
  fc.assert(fc.property(fc.nat(rim.length - 1), fc.integer({ min: 1, max: 255 }), (offset, mask) => {
    const changed = Uint8Array.from(rim);
    changed[offset] = changed[offset]! ^ mask;
    const v = verifyRim(changed, anchors, GPU_TIME);
    return v.ok ? meaning(v) === meaning(original) : refused(changed);
  }), { numRuns: 300 });
  t.pass();
});

test('arbitrary text and bytes never verify as a RIM', (t) => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 400 }).map((s) => new Uint8Array(Buffer.from(s))), fc.uint8Array({ maxLength: 400 })), refused), { numRuns: 300 });
  t.pass();
});
