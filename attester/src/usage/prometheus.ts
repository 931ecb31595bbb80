// A small, strict reader of the Prometheus text exposition format (version 0.0.4), enough to read the
// inference server's counters. Strict on purpose: these numbers become money, so a line we do not
// understand fails the scrape instead of being skipped.
//
//   # HELP name text            # TYPE name counter|gauge|histogram|summary|untyped   (other # lines: comments)
//   name{label="value",...} value [timestamp_ms]
//
// Label values escape \\, \" and \n; values are Go-style floats including +Inf, -Inf and NaN.
import { AttesterError } from '../errors.js';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  samples: PromSample[];
  /** Declared types from # TYPE lines. */
  types: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(lineNo: number, why: string): never {
  throw new AttesterError('METRICS_UNAVAILABLE', `metrics line ${lineNo}: ${why}`);
}

function parseValue(text: string, lineNo: number): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(lineNo, `"${text}" is not a number`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `line[at] === '{'`; returns the labels and the index after `}`. */
function parseLabels(line: string, at: number, lineNo: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = at + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const name = LABEL_NAME.exec(line.slice(i))?.[0];
    if (!name) fail(lineNo, `bad label name at column ${i + 1}`);
    i += name.length;
    while (line[i] === ' ') i++;
    if (line[i] !== '=' || line[i + 1] !== '"') fail(lineNo, `label ${name} is not followed by ="`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail(lineNo, `label ${name} value is not terminated`);
      if (c === '"') break;
      if (c === '\\') {
        const e = line[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else fail(lineNo, `label ${name} has an unknown escape \\${e ?? ''}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    if (name in labels) fail(lineNo, `label ${name} appears twice`);
    labels[name] = value;
    while (line[i] === ' ') i++;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') fail(lineNo, `expected , or } after label ${name}`);
  }
}

export function parsePrometheusText(text: string): PromText {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.replace(/\r$/, '').trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (m?.[1] === 'TYPE') {
        if (!NAME.test(m[2]!) || !TYPES.has((m[3] ?? '').trim())) fail(lineNo, `bad TYPE line "${line.slice(0, 80)}"`);
        types.set(m[2]!, m[3]!.trim());
      }
      return; // HELP text and other comments carry no values
    }
    const name = NAME.exec(line)?.[0];
    if (!name) fail(lineNo, `"${line.slice(0, 40)}" does not start with a metric name`);
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, lineNo));
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') fail(lineNo, `expected "value [timestamp]" after ${name}`);
    if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) fail(lineNo, `timestamp "${rest[1]}" is not an integer`);
    samples.push({ name, labels, value: parseValue(rest[0]!, lineNo) });
  });
  return { samples, types };
}

/**
 * The sum of a counter over all its label sets (vLLM labels by model_name; a replica serves one model,
 * but summing is right either way). A missing counter is 0: servers register some counters lazily. A
 * counter that is negative, NaN or infinite, or declared as something other than a counter, fails.
 */
export function counterTotal(parsed: PromText, name: string): number {
  const declared = parsed.types.get(name) ?? parsed.types.get(name.replace(/_total$/, ''));
  if (declared !== undefined && declared !== 'counter' && declared !== 'untyped') {
    throw new AttesterError('METRICS_UNAVAILABLE', `${name} is declared as a ${declared}, not a counter`);
  }
  let total = 0;
  for (const s of parsed.samples) {
    if (s.name !== name) continue;
    if (!Number.isFinite(s.value) || s.value < 0) throw new AttesterError('METRICS_UNAVAILABLE', `counter ${name} has the value ${s.value}`);
    total += s.value;
  }
  return total;
}
