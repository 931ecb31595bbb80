// The strict JSON reader used for signed text: everything JSON.parse resolves silently (a repeated
// member, trailing data, a lone surrogate, an integer it cannot hold) is an error here, and what it
// accepts parses to what JSON.parse gives.
import test from 'ava';
import fc from 'fast-check';
import { MAX_DEPTH, parseStrictJson, parseStrictJsonObject, StrictJsonError } from '../../operator/src/attestation/strict-json.js';

const rejects = (text: string, pattern: RegExp) => (t: import('ava').ExecutionContext) => {
  const err = t.throws(() => parseStrictJson(text), { instanceOf: StrictJsonError });
  t.regex(err!.message, pattern);
};

test('well-formed documents parse to what JSON.parse gives', (t) => {
  for (const text of ['{}', '[]', '0', '-0.5e-3', '"a\\u00e9\\ud83d\\ude00\\n"', ' {"a":[1,{"b":null}],"c":true,"d":false} ', '{"x":"é😀"}', '1E3']) {
    t.deepEqual(parseStrictJson(text), JSON.parse(text), text);
  }
});

test('a member name twice in one object is refused at the top level and at any depth', rejects('{"a":{"b":[{"c":1,"c":2}]}}', /"c" appears twice/));
test('member names are compared after unescaping', rejects('{"tcbInfo":1,"tcb\\u0049nfo":2}', /"tcbInfo" appears twice/));
test('the same name in sibling objects is not a duplicate', (t) => {
  t.deepEqual(parseStrictJson('[{"a":1},{"a":2}]'), [{ a: 1 }, { a: 2 }]);
});
test('trailing data after the value is refused', rejects('{"a":1} {"a":2}', /trailing data/));
test('a trailing comma is refused', rejects('{"a":1,}', /member name/));
test('a byte-order mark is refused', rejects('\ufeff{}', /byte-order mark/));
test('empty input is refused', rejects('', /end of input/));
test('a lone high surrogate escape is refused', rejects('"\\ud800"', /lone high surrogate/));
test('a lone low surrogate escape is refused', rejects('"\\udc00x"', /lone low surrogate/));
test('reversed surrogates are refused', rejects('"\\ude00\\ud83d"', /lone low surrogate/));
test('a raw lone surrogate in the text is refused', rejects('"\ud800"', /lone high surrogate/));
test('an unescaped control character in a string is refused', rejects('"a\nb"', /control character/));
test('an unknown escape is refused', rejects('"\\x41"', /unknown escape/));
test('an integer beyond 2^53 - 1 is refused rather than rounded', rejects('{"n":9007199254740993}', /cannot be represented exactly/));
test('a number that overflows to Infinity is refused', rejects('1e400', /out of range/));
test('leading zeros are refused', rejects('[01]', /malformed number/));
test('a leading plus, a bare fraction and a bare point are refused', (t) => {
  for (const text of ['+1', '.5', '1.', '1e', '--1']) t.throws(() => parseStrictJson(text), { instanceOf: StrictJsonError }, text);
});
test('words other than true, false and null are refused', rejects('[nul]', /unexpected character/));
test(`nesting deeper than ${MAX_DEPTH} is refused without exhausting the stack`, (t) => {
  t.notThrows(() => parseStrictJson('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH)));
  t.throws(() => parseStrictJson('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1)), { message: /nesting deeper/ });
  t.throws(() => parseStrictJson('['.repeat(100_000)), { message: /nesting deeper/ });
});

test('"__proto__" becomes an own member, never the prototype', (t) => {
  const value = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
  t.is(Object.getPrototypeOf(value), Object.prototype);
  t.deepEqual(Object.keys(value), ['__proto__']);
  t.is((value as { polluted?: boolean }).polluted, undefined);
});

test('parseStrictJsonObject gives each top-level member with the exact text of its value', (t) => {
  const text = '{ "tcbInfo" : {"k":"v}","n":{"m":1}} , "signature":"00" }';
  const members = parseStrictJsonObject(text);
  t.deepEqual([...members.keys()], ['tcbInfo', 'signature']);
  t.is(members.get('tcbInfo')!.raw, '{"k":"v}","n":{"m":1}}');
  t.deepEqual(members.get('tcbInfo')!.value, { k: 'v}', n: { m: 1 } });
  t.is(members.get('signature')!.raw, '"00"');
  t.throws(() => parseStrictJsonObject('[1]'), { message: /not a JSON object/ });
});

test('on any JSON text it either agrees with JSON.parse or refuses with a StrictJsonError', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, spaced) => {
      const text = JSON.stringify(value, null, spaced ? 1 : undefined);
      try {
        t.deepEqual(parseStrictJson(text), JSON.parse(text));
        return true;
      } catch (err) {
        // Only integers JavaScript cannot hold exactly are refused among JSON.stringify's outputs.
        return err instanceof StrictJsonError && /cannot be represented exactly/.test(err.message);
      }
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('on arbitrary text it throws nothing but StrictJsonError', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1)))), (text) => {
      try {
        parseStrictJson(text);
        return true;
      } catch (err) {
        return err instanceof StrictJsonError;
      }
    }),
    { numRuns: 500 },
  );
  t.pass();
});
