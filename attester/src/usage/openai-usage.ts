// Token metering at the RA-TLS terminator: every client request to the replica passes through the
// attester sidecar's gateway, which hands this module the request body before forwarding it and the
// response body as it streams back to the client. The usage the inference server reports in those
// responses is added to the replica's TokenCounter, which the usage reporter signs with the attested key.
//
// What is counted: the `usage` object (prompt_tokens, completion_tokens) of the OpenAI-compatible
// responses the terminator forwarded, on POST /v1/chat/completions and /v1/completions; other paths
// count nothing.
//   - Non-streaming: the response is one JSON object; its `usage` is counted at the end of the response.
//   - Streaming (SSE): `data:` events, ended by `data: [DONE]`. prepareRequest sets
//     stream_options.include_usage (the final chunk carries the request's usage) and
//     stream_options.continuous_usage_stats (vLLM and SGLang then put the usage so far in every chunk,
//     others ignore it). The last usage seen in the stream is counted, once, when the response ends — so
//     a stream the client cuts short is counted up to the last chunk that carried usage.
// A response that carries no readable usage (the server omitted it, a body that is not JSON, a count that
// is not a whole number) counts nothing: it is logged and counted in uncountedResponses, never guessed.
// The server runs inside the same attested Pod, so its usage numbers are as trustworthy as the tokens it
// produced; what the terminator adds is that only responses a client actually received are counted.
// An error body (`{"error": ...}` without usage) is a request that produced no tokens: nothing is counted
// and nothing is flagged.
//
// Bytes: SSE lines are split on CR, LF or CRLF as raw bytes, so a chunk boundary anywhere — inside a line,
// between CR and LF, inside a multi-byte UTF-8 character — gives the same events; a line is decoded only
// once it is complete. The gateway must forward identity-encoded bodies (a compressed body does not parse
// and counts nothing).
import type { Logger } from 'winston';
import { silentLogger } from '../../../operator/src/util/log.js';
import type { TokenCounter } from './token-counter.js';

/** The endpoints whose responses are metered. */
export const METERED_PATHS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/** A non-streaming response body larger than this is not buffered for its usage (counted as uncounted). */
export const MAX_JSON_RESPONSE_BYTES = 64 * 1024 * 1024;

/** An SSE line longer than this is skipped (a usage chunk is a few hundred bytes). */
export const MAX_SSE_LINE_BYTES = 4 * 1024 * 1024;

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  /** Of promptTokens, those the server read from its prefix cache (usage.prompt_tokens_details.cached_tokens; 0 when absent). */
  cachedPromptTokens: number;
}

export interface UsageTap {
  /** One piece of the response body, in the order forwarded to the client. */
  write(chunk: Buffer): void;
  /** The response is over (complete or cut); counts its usage. Later calls do nothing. */
  end(): void;
}

/** Whether responses to `path` (query string allowed) are metered. */
export function isMeteredPath(path: string): boolean {
  const bare = path.split(/[?#]/, 1)[0]!;
  return METERED_PATHS.has(bare);
}

/**
 * The usage of one response object, or why there is none: `usage` must be an object whose prompt_tokens
 * and completion_tokens are whole numbers ≥ 0. A null or absent usage is `missing`. The cached prompt
 * tokens (prompt_tokens_details.cached_tokens) are 0 when absent or null, and must otherwise be a whole
 * number no larger than prompt_tokens: a usage that says otherwise is not counted at all.
 */
export function readUsage(body: unknown): { usage: TokenUsage } | { missing: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { missing: 'the body is not a JSON object' };
  const usage = (body as { usage?: unknown }).usage;
  if (usage === undefined || usage === null) return { missing: 'the response has no usage' };
  if (typeof usage !== 'object' || Array.isArray(usage)) return { missing: 'usage is not an object' };
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as Record<string, unknown>;
  for (const [name, v] of [['prompt_tokens', prompt], ['completion_tokens', completion]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return { missing: `usage.${name} is not a whole number ≥ 0` };
  }
  const details = (usage as { prompt_tokens_details?: unknown }).prompt_tokens_details;
  let cached: unknown = 0;
  if (details !== undefined && details !== null) {
    if (typeof details !== 'object' || Array.isArray(details)) return { missing: 'usage.prompt_tokens_details is not an object' };
    cached = (details as { cached_tokens?: unknown }).cached_tokens ?? 0;
  }
  if (typeof cached !== 'number' || !Number.isSafeInteger(cached) || cached < 0 || cached > (prompt as number)) {
    return { missing: 'usage.prompt_tokens_details.cached_tokens is not a whole number between 0 and prompt_tokens' };
  }
  return { usage: { promptTokens: prompt as number, completionTokens: completion as number, cachedPromptTokens: cached } };
}

function isErrorBody(body: unknown): boolean {
  return !!body && typeof body === 'object' && 'error' in body && (body as { error: unknown }).error != null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The top-level members of a JSON object text (already known to parse): each key with the span of its
 * value, and the index of the closing brace. Lets prepareRequest change one member and leave every other
 * byte as the client sent it (re-serialising would round large integers such as a seed).
 */
function topLevelMembers(text: string): { members: Array<{ key: string; valueStart: number; valueEnd: number }>; close: number } {
  const members: Array<{ key: string; valueStart: number; valueEnd: number }> = [];
  const ws = (i: number) => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
    return i;
  };
  const stringEnd = (i: number) => {
    // i at the opening quote; returns the index after the closing quote
    for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    return i + 1;
  };
  const valueEnd = (i: number) => {
    if (text[i] === '"') return stringEnd(i);
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      for (;;) {
        const c = text[i];
        if (c === '"') {
          i = stringEnd(i);
          continue;
        }
        if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') depth--;
        i++;
        if (depth === 0) return i;
      }
    }
    while (i < text.length && !',} \t\r\n'.includes(text[i]!)) i++;
    return i;
  };
  let i = ws(0) + 1; // after '{'
  for (;;) {
    i = ws(i);
    if (text[i] === '}') return { members, close: i };
    if (text[i] === ',') i = ws(i + 1);
    const keyEnd = stringEnd(i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    const valueStart = ws(ws(keyEnd) + 1); // past ':'
    const end = valueEnd(valueStart);
    members.push({ key, valueStart, valueEnd: end });
    i = end;
  }
}

/**
 * The request body to forward. For a streaming request (`"stream": true`) to a metered endpoint,
 * stream_options gets include_usage and continuous_usage_stats set to true (whatever the client asked), so
 * that the usage arrives in the stream; every other member is left byte for byte as the client wrote it.
 * Anything else — another path, a body that is not a UTF-8 JSON object, a non-streaming request — is
 * returned unchanged (the same Buffer).
 */
export function prepareRequest(path: string, body: Buffer): Buffer {
  if (!isMeteredPath(path)) return body;
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    return body;
  }
  const parsed = parseJson(text);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return body;
  const request = parsed as { stream?: unknown; stream_options?: unknown };
  if (request.stream !== true) return body;
  const old = request.stream_options && typeof request.stream_options === 'object' && !Array.isArray(request.stream_options) ? request.stream_options : {};
  const value = JSON.stringify({ ...old, include_usage: true, continuous_usage_stats: true });
  const { members, close } = topLevelMembers(text);
  const existing = members.filter((m) => m.key === 'stream_options');
  let out: string;
  if (existing.length === 0) {
    out = `${text.slice(0, close)},"stream_options":${value}${text.slice(close)}`;
  } else {
    // Every occurrence is replaced, so a parser that keeps the first duplicate reads the same as one that keeps the last.
    out = '';
    let at = 0;
    for (const m of existing) {
      out += text.slice(at, m.valueStart) + value;
      at = m.valueEnd;
    }
    out += text.slice(at);
  }
  return Buffer.from(out, 'utf8');
}

/**
 * Server-sent events, read from raw bytes: calls `onData` with each event's data (its `data:` lines joined
 * by LF) when the blank line ending it arrives. Lines end at CR, LF or CRLF, wherever the chunks split.
 */
export class SseDataReader {
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #oversized = false;
  #afterCR = false;
  #data: string[] = [];
  #started = false;

  constructor(private readonly onData: (data: string) => void, private readonly maxLineBytes = MAX_SSE_LINE_BYTES) {}

  write(chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== 0x0a && b !== 0x0d) continue;
      if (b === 0x0a && this.#afterCR && i === start && this.#partialBytes === 0) {
        // the LF of a CRLF whose CR ended the previous line
        this.#afterCR = false;
        start = i + 1;
        continue;
      }
      this.#append(chunk.subarray(start, i));
      this.#endLine();
      this.#afterCR = b === 0x0d;
      start = i + 1;
    }
    if (start < chunk.length) {
      this.#afterCR = false;
      this.#append(chunk.subarray(start));
    }
  }

  /** The stream ended: an unterminated last line and an event without its blank line still count. */
  end(): void {
    if (this.#partialBytes > 0 || this.#oversized) this.#endLine();
    this.#dispatch();
  }

  #append(bytes: Buffer): void {
    if (bytes.length === 0 || this.#oversized) return;
    if (this.#partialBytes + bytes.length > this.maxLineBytes) {
      this.#oversized = true;
      this.#partial = [];
      this.#partialBytes = 0;
      return;
    }
    this.#partial.push(bytes);
    this.#partialBytes += bytes.length;
  }

  #endLine(): void {
    const oversized = this.#oversized;
    let line = this.#partial.length === 1 ? this.#partial[0]!.toString('utf8') : Buffer.concat(this.#partial).toString('utf8');
    this.#partial = [];
    this.#partialBytes = 0;
    this.#oversized = false;
    if (oversized) return; // skipped; the event's other lines still count
    if (!this.#started) {
      this.#started = true;
      if (line.startsWith('\uFEFF')) line = line.slice(1);
    }
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return; // event:, id:, retry: carry no usage
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.#data.push(value);
  }

  #dispatch(): void {
    if (this.#data.length === 0) return;
    const data = this.#data.join('\n');
    this.#data = [];
    this.onData(data);
  }
}

/** What a finished response amounts to: its usage, no tokens at all (an error), or usage that is missing. */
type Verdict = { usage: TokenUsage } | { error: true } | { missing: string };

/** Reads one response body (JSON or SSE, told apart by its first byte) and returns its verdict at the end. */
class ResponseUsageReader {
  #mode: 'unknown' | 'json' | 'sse' = 'unknown';
  #json: Buffer[] = [];
  #jsonBytes = 0;
  #jsonTooLarge = false;
  #sse: SseDataReader | undefined;
  #lastUsage: TokenUsage | undefined;
  #lastProblem: string | undefined;
  #sawError = false;
  #sawDone = false;
  #events = 0;

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#mode === 'unknown') {
      // Leading whitespace (or a BOM) says nothing yet; keep it for the JSON parse.
      const text = chunk.toString('latin1');
      const first = /[^\s\u00ef\u00bb\u00bf]/.exec(text);
      if (!first) {
        this.#json.push(chunk);
        this.#jsonBytes += chunk.length;
        return;
      }
      this.#mode = first[0] === '{' ? 'json' : 'sse';
      if (this.#mode === 'sse') {
        this.#sse = new SseDataReader((data) => this.#event(data));
        const held = Buffer.concat(this.#json);
        this.#json = [];
        this.#jsonBytes = 0;
        if (held.length) this.#sse.write(held);
      }
    }
    if (this.#mode === 'sse') {
      this.#sse!.write(chunk);
      return;
    }
    if (this.#jsonTooLarge) return;
    if (this.#jsonBytes + chunk.length > MAX_JSON_RESPONSE_BYTES) {
      this.#jsonTooLarge = true;
      this.#json = [];
      return;
    }
    this.#json.push(chunk);
    this.#jsonBytes += chunk.length;
  }

  #event(data: string): void {
    if (this.#sawDone) return; // nothing after [DONE] belongs to the response
    if (data.trim() === '[DONE]') {
      this.#sawDone = true;
      return;
    }
    this.#events++;
    const body = parseJson(data);
    const read = readUsage(body);
    if ('usage' in read) this.#lastUsage = read.usage;
    else if (isErrorBody(body)) this.#sawError = true;
    else if (body === undefined) this.#lastProblem = 'an event is not JSON';
    else if (body && typeof body === 'object' && 'usage' in body && (body as { usage: unknown }).usage !== null) this.#lastProblem = read.missing;
  }

  end(): Verdict | undefined {
    if (this.#mode === 'sse') {
      this.#sse!.end();
      if (this.#lastUsage) return { usage: this.#lastUsage };
      if (this.#sawError) return { error: true };
      if (this.#events === 0) return { missing: 'the response is neither JSON nor server-sent events with data' };
      return { missing: this.#lastProblem ?? `no event of the stream carried usage${this.#sawDone ? '' : ' (it ended before [DONE])'}` };
    }
    if (this.#mode === 'unknown') return undefined; // an empty body
    if (this.#jsonTooLarge) return { missing: `the response is larger than ${MAX_JSON_RESPONSE_BYTES} bytes and was not read` };
    const body = parseJson(Buffer.concat(this.#json).toString('utf8').replace(/^\uFEFF/, ''));
    if (body === undefined) return { missing: 'the response is not JSON' };
    const read = readUsage(body);
    if ('usage' in read) return read;
    if (isErrorBody(body)) return { error: true };
    return read;
  }
}

/**
 * The tap for one response: counts its usage into `counter` when it ends. A path that is not metered
 * gets a tap that does nothing. The request body is not needed to read the response (JSON and SSE are
 * told apart by the response's first byte); it is part of the agreed interface so the tap can name what
 * it could not count.
 */
export function createUsageTap(path: string, requestBody: Buffer, counter: TokenCounter, logger: Logger = silentLogger()): UsageTap {
  if (!isMeteredPath(path)) return { write() {}, end() {} };
  const reader = new ResponseUsageReader();
  let ended = false;
  return {
    write(chunk: Buffer) {
      if (!ended) reader.write(chunk);
    },
    end() {
      if (ended) return;
      ended = true;
      const verdict = reader.end();
      if (!verdict || 'error' in verdict) return;
      if ('usage' in verdict) {
        counter.add(verdict.usage.promptTokens, verdict.usage.completionTokens, verdict.usage.cachedPromptTokens);
        return;
      }
      counter.addUncounted();
      logger.warn('response forwarded without usage; no tokens counted for it', { path, reason: verdict.missing, requestBytes: requestBody.length });
    },
  };
}

/**
 * What the gateway holds: prepareRequest before forwarding a request, createUsageTap for its response,
 * both feeding one TokenCounter that the usage reporter signs.
 */
export class OpenAIUsageMeter {
  readonly #logger: Logger;
  constructor(readonly counter: TokenCounter, logger?: Logger) {
    this.#logger = logger ?? silentLogger();
  }

  prepareRequest(path: string, body: Buffer): Buffer {
    return prepareRequest(path, body);
  }

  createUsageTap(path: string, requestBody: Buffer): UsageTap {
    return createUsageTap(path, requestBody, this.counter, this.#logger);
  }
}
