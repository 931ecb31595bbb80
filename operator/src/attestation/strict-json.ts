// A strict JSON reader (RFC 8259 grammar, I-JSON restrictions of RFC 7493) for text a signature covers.
// JSON.parse resolves ambiguity silently: a repeated member name keeps the last value, "\ud800" becomes a
// lone surrogate, 12345678901234567890 becomes another number. When a signature covers the text, each of
// those lets the object a verifier judges differ from what the signer meant (or from what the signature
// check looked at), so here each is an error instead:
//   - a member name twice in one object, at any depth (compared after unescaping);
//   - anything but JSON whitespace after the value (trailing data), a byte-order mark, empty input;
//   - a lone or reversed UTF-16 surrogate, escaped or raw; an unescaped control character in a string;
//   - a number outside the grammar (leading zeros, "+1", ".5", "1.") or one JavaScript cannot hold
//     exactly as written: an integer beyond ±(2^53 − 1), or any number that overflows to ±Infinity;
//     fractions are accepted (none of the signed formats here uses one where precision matters);
//   - nesting deeper than MAX_DEPTH (a stack-exhaustion guard).
// Objects come back as plain objects whose members are own properties, "__proto__" included.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [member: string]: JsonValue };

/** Nesting limit: deeper than any signed format uses, shallow enough never to exhaust the stack. */
export const MAX_DEPTH = 64;

export class StrictJsonError extends Error {
  /** UTF-16 offset in the text where the problem was found. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'StrictJsonError';
    this.offset = offset;
  }
}

/** A member of the top-level object: its parsed value and the exact text of that value. */
export interface RawMember {
  value: JsonValue;
  /** The value's text exactly as it appears in the input (from its first to its last character). */
  raw: string;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

class Reader {
  pos = 0;
  /** Spans of the top-level object's members, filled while parsing depth 1. */
  readonly topLevel = new Map<string, RawMember>();
  constructor(private readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw new StrictJsonError(message, at);
  }

  skipWhitespace(): void {
    while (this.pos < this.text.length && WHITESPACE.has(this.text[this.pos]!)) this.pos++;
  }

  value(depth: number): JsonValue {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return result;
      }
    }
    return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
  }

  object(depth: number): { [member: string]: JsonValue } {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.pos++; // {
    const out: { [member: string]: JsonValue } = {};
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      const nameAt = this.pos;
      if (this.text[this.pos] !== '"') this.fail('expected a member name');
      const name = this.string();
      if (seen.has(name)) this.fail(`member ${JSON.stringify(name)} appears twice in one object`, nameAt);
      seen.add(name);
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail(`expected ":" after member ${JSON.stringify(name)}`);
      this.pos++;
      this.skipWhitespace();
      const valueAt = this.pos;
      const value = this.value(depth);
      // defineProperty, not assignment: "__proto__" must become an own member, never the prototype.
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
      if (depth === 1) this.topLevel.set(name, { value, raw: this.text.slice(valueAt, this.pos) });
      this.skipWhitespace();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}" in an object', this.pos - 1);
    }
  }

  array(depth: number): JsonValue[] {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.pos++; // [
    const out: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.skipWhitespace();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]" in an array', this.pos - 1);
    }
  }

  /** A string starting at the opening quote; returns its value with surrogates checked. */
  string(): string {
    const start = this.pos;
    this.pos++; // "
    const units: number[] = [];
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string', start);
      const code = this.text.charCodeAt(this.pos);
      if (code === 0x22) {
        this.pos++;
        break;
      }
      if (code < 0x20) this.fail('unescaped control character in a string');
      if (code !== 0x5c) {
        units.push(code);
        this.pos++;
        continue;
      }
      const e = this.text[this.pos + 1];
      if (e === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        units.push(parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && e in ESCAPES) {
        units.push(ESCAPES[e]!.charCodeAt(0));
        this.pos += 2;
      } else {
        this.fail(`unknown escape \\${e ?? ''}`);
      }
    }
    for (let i = 0; i < units.length; i++) {
      const u = units[i]!;
      if (u >= 0xd800 && u <= 0xdbff) {
        const next = units[i + 1];
        if (next === undefined || next < 0xdc00 || next > 0xdfff) this.fail('lone high surrogate in a string', start);
        i++;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        this.fail('lone low surrogate in a string', start);
      }
    }
    let out = '';
    for (let i = 0; i < units.length; i += 8192) out += String.fromCharCode(...units.slice(i, i + 8192));
    return out;
  }

  number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail('malformed number');
    const text = m[0];
    const after = this.text[this.pos + text.length];
    if (after !== undefined && /[0-9.eE+\-]/.test(after)) this.fail(`malformed number ${JSON.stringify(text + after)}`);
    const value = Number(text);
    if (!Number.isFinite(value)) this.fail(`number ${text} is out of range`);
    if (/^-?[0-9]+$/.test(text) && !Number.isSafeInteger(value)) this.fail(`integer ${text} cannot be represented exactly`);
    this.pos += text.length;
    return value;
  }
}

function read(text: string): Reader & { result: JsonValue } {
  if (typeof text !== 'string') throw new StrictJsonError('input is not text', 0);
  const reader = new Reader(text) as Reader & { result: JsonValue };
  if (text.charCodeAt(0) === 0xfeff) reader.fail('byte-order mark before the value', 0);
  reader.result = reader.value(0);
  reader.skipWhitespace();
  if (reader.pos !== text.length) reader.fail('trailing data after the value');
  return reader;
}

/** Parses `text` strictly (see the file comment). Throws StrictJsonError. */
export function parseStrictJson(text: string): JsonValue {
  return read(text).result;
}

/**
 * Parses a document that must be one object and returns its members with the exact text of each value,
 * so a caller can verify a signature over one member's bytes and judge what those same bytes say.
 */
export function parseStrictJsonObject(text: string): Map<string, RawMember> {
  const reader = read(text);
  if (typeof reader.result !== 'object' || reader.result === null || Array.isArray(reader.result)) {
    throw new StrictJsonError('the document is not a JSON object', 0);
  }
  return reader.topLevel;
}
