import test from 'ava';
import { decodeUtf8Strict } from '../../operator/src/util/strict-utf8.js';
import { parseStrictJson } from '../../operator/src/attestation/strict-json.js';
import { collateralFromFiles } from '../../operator/src/attestation/tdx/collateral.js';
import { parseXml } from '../../operator/src/attestation/nvidia/xml.js';

const BOM = [0xef, 0xbb, 0xbf];
const bytes = (text: string, bom = false) => new Uint8Array([...(bom ? BOM : []), ...Buffer.from(text)]);

test('invalid UTF-8 is refused instead of replaced, whichever the BOM choice', (t) => {
  for (const keepBom of [true, false]) {
    t.is(decodeUtf8Strict(bytes('{"a":"é"}'), { keepBom }), '{"a":"é"}');
    t.is(decodeUtf8Strict(Uint8Array.of(0x7b, 0xff, 0x7d), { keepBom }), undefined);
    t.is(decodeUtf8Strict(Uint8Array.of(0xed, 0xa0, 0x80), { keepBom }), undefined); // an encoded lone surrogate
    t.is(decodeUtf8Strict(Uint8Array.of(0xc0, 0xaf), { keepBom }), undefined); // an overlong '/'
  }
});

test('keepBom keeps a leading byte-order mark as U+FEFF; without it the mark is dropped', (t) => {
  t.is(decodeUtf8Strict(bytes('x', true), { keepBom: true }), '\ufeffx');
  t.is(decodeUtf8Strict(bytes('x', true), { keepBom: false }), 'x');
  // Only a leading mark is the encoding signature; one inside the text is content either way.
  t.is(decodeUtf8Strict(bytes('x\ufeff'), { keepBom: false }), 'x\ufeff');
});

test('signed JSON collateral led by a BOM reaches the strict JSON reader with the BOM, which refuses it', (t) => {
  const text = decodeUtf8Strict(bytes('{"tcbInfo":{}}', true), { keepBom: true })!;
  t.throws(() => parseStrictJson(text), { message: /byte-order mark/ });
  // collateralFromFiles sorts it as TCB info still carrying the mark, so its parse refuses it later.
  const sorted = collateralFromFiles([{ name: 'tcb.json', bytes: bytes('{"tcbInfo":{}}', true) }]);
  t.true(sorted.tcbInfos![0]!.startsWith('\ufeff'));
});

test('a RIM led by a BOM parses as the same document as one without', (t) => {
  const doc = '<?xml version="1.0" encoding="UTF-8"?><a x="1"><b>t</b></a>';
  t.deepEqual(parseXml(bytes(doc, true)), parseXml(bytes(doc)));
});
