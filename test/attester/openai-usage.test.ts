// Token metering at the RA-TLS terminator (attester/src/usage/openai-usage.ts): the usage of the
// OpenAI-compatible responses the gateway forwards, streaming and not, whatever the chunk boundaries.
// The fixtures are responses in vLLM's wire format (chat and text completions, SSE and JSON), with
// multi-byte UTF-8 content so that splits land inside characters.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createUsageTap, OpenAIUsageMeter, prepareRequest, readUsage, SseDataReader } from '../../attester/src/usage/openai-usage.js';
import { TokenCounter } from '../../attester/src/usage/token-counter.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/openai/${name}`, import.meta.url));
const CHAT_STREAM = fixture('chat-stream.sse');
const CHAT_JSON = fixture('chat.json');
const COMPLETIONS_STREAM = fixture('completions-stream.sse');
const STREAM_REQUEST = Buffer.from('{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}');
const PLAIN_REQUEST = Buffer.from('{"model":"m","messages":[{"role":"user","content":"hi"}]}');

/** Feeds `chunks` through a fresh tap on `path` and returns the counter's totals. */
function count(path: string, chunks: Buffer[], request = STREAM_REQUEST) {
  const counter = new TokenCounter();
  const tap = createUsageTap(path, request, counter);
  for (const c of chunks) tap.write(c);
  tap.end();
  const s = counter.snapshot();
  return { prompt: s.promptTokens, completion: s.completionTokens, counted: s.countedResponses, uncounted: s.uncountedResponses };
}

const COUNTED = (prompt: bigint, completion: bigint) => ({ prompt, completion, counted: 1n, uncounted: 0n });
const NOTHING = { prompt: 0n, completion: 0n, counted: 0n, uncounted: 0n };
const UNCOUNTED = { prompt: 0n, completion: 0n, counted: 0n, uncounted: 1n };

function sse(...events: unknown[]): Buffer {
  return Buffer.from(events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join(''));
}

test('a non-streaming chat completion counts its usage', (t) => {
  t.deepEqual(count('/v1/chat/completions', [CHAT_JSON], PLAIN_REQUEST), COUNTED(27n, 13n));
});

test('a streaming chat completion counts the final chunk\'s usage', (t) => {
  t.deepEqual(count('/v1/chat/completions', [CHAT_STREAM]), COUNTED(27n, 13n));
});

test('a streaming text completion (/v1/completions) counts its usage', (t) => {
  t.deepEqual(count('/v1/completions', [COMPLETIONS_STREAM]), COUNTED(5n, 4n));
});

test('split at every byte boundary, the recorded stream gives the same count', (t) => {
  for (const body of [CHAT_STREAM, COMPLETIONS_STREAM]) {
    const whole = count('/v1/chat/completions', [body]);
    for (let i = 0; i <= body.length; i++) {
      const split = count('/v1/chat/completions', [body.subarray(0, i), body.subarray(i)]);
      if (split.prompt !== whole.prompt || split.completion !== whole.completion || split.counted !== 1n) {
        t.fail(`split at byte ${i}: ${JSON.stringify(split, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
        return;
      }
    }
  }
  t.pass();
});

test('one byte per chunk, and every three-way split of the last events, give the same count', (t) => {
  const bytes = [...CHAT_STREAM].map((b) => Buffer.from([b]));
  t.deepEqual(count('/v1/chat/completions', bytes), COUNTED(27n, 13n));
  const tail = CHAT_STREAM.length - 400; // the usage chunk and [DONE] lie in the last 400 bytes
  for (let i = tail; i < CHAT_STREAM.length; i += 7) {
    for (let j = i; j <= CHAT_STREAM.length; j += 5) {
      const r = count('/v1/chat/completions', [CHAT_STREAM.subarray(0, i), CHAT_STREAM.subarray(i, j), CHAT_STREAM.subarray(j)]);
      if (r.prompt !== 27n || r.completion !== 13n) return t.fail(`split at ${i}/${j}`);
    }
  }
  t.pass();
});

test('the non-streaming response split at every byte boundary gives the same count', (t) => {
  for (let i = 0; i <= CHAT_JSON.length; i++) {
    const r = count('/v1/chat/completions', [CHAT_JSON.subarray(0, i), CHAT_JSON.subarray(i)], PLAIN_REQUEST);
    if (r.prompt !== 27n || r.completion !== 13n || r.counted !== 1n) return t.fail(`split at byte ${i}`);
  }
  t.pass();
});

test('CRLF and CR line endings count the same, wherever the chunks split (also between CR and LF)', (t) => {
  for (const eol of ['\r\n', '\r']) {
    const body = Buffer.from(CHAT_STREAM.toString('utf8').replaceAll('\n', eol), 'utf8');
    for (let i = 0; i <= body.length; i++) {
      const r = count('/v1/chat/completions', [body.subarray(0, i), body.subarray(i)]);
      if (r.prompt !== 27n || r.completion !== 13n || r.counted !== 1n) return t.fail(`${JSON.stringify(eol)} split at byte ${i}`);
    }
  }
  t.pass();
});

test('SSE events decode multi-byte UTF-8 intact whatever the split, and lines split on CR, LF and CRLF', (t) => {
  const text = 'data: {"c":"世界 🎉 é"}\r\n\r\n: keep-alive\n\nevent: x\ndata: a\ndata:b\r\rdata: p\r\ndata: q\r\n\r\ndata: [DONE]\n\n';
  const body = Buffer.from(text, 'utf8');
  const read = (chunks: Buffer[]) => {
    const out: string[] = [];
    const r = new SseDataReader((d) => out.push(d));
    for (const c of chunks) r.write(c);
    r.end();
    return out;
  };
  const whole = read([body]);
  t.deepEqual(whole, ['{"c":"世界 🎉 é"}', 'a\nb', 'p\nq', '[DONE]']);
  for (let i = 0; i <= body.length; i++) t.deepEqual(read([body.subarray(0, i), body.subarray(i)]), whole, `split at ${i}`);
});

test('an unterminated last event still counts: the client received its bytes', (t) => {
  const body = Buffer.from(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}`);
  t.deepEqual(count('/v1/chat/completions', [body]), COUNTED(3n, 2n));
});

test('with continuous usage stats the last usage counts, not the sum of every chunk', (t) => {
  const body = sse(
    { choices: [{ delta: { content: 'a' } }], usage: { prompt_tokens: 10, completion_tokens: 1 } },
    { choices: [{ delta: { content: 'b' } }], usage: { prompt_tokens: 10, completion_tokens: 2 } },
    { choices: [{ delta: { content: 'c' } }], usage: { prompt_tokens: 10, completion_tokens: 3 } },
    { choices: [], usage: { prompt_tokens: 10, completion_tokens: 3 } },
    '[DONE]',
  );
  t.deepEqual(count('/v1/chat/completions', [body]), COUNTED(10n, 3n));
});

test('a stream cut short counts what it forwarded up to the last chunk with usage', (t) => {
  const body = sse(
    { choices: [{ delta: { content: 'a' } }], usage: { prompt_tokens: 10, completion_tokens: 1 } },
    { choices: [{ delta: { content: 'b' } }], usage: { prompt_tokens: 10, completion_tokens: 2 } },
  );
  t.deepEqual(count('/v1/chat/completions', [body]), COUNTED(10n, 2n));
});

test('a stream without usage counts nothing, is recorded as uncounted and logged', (t) => {
  const counter = new TokenCounter();
  const warnings: unknown[] = [];
  const logger = { warn: (...a: unknown[]) => warnings.push(a) } as never;
  const tap = new OpenAIUsageMeter(counter, logger).createUsageTap('/v1/chat/completions', STREAM_REQUEST);
  tap.write(sse({ choices: [{ delta: { content: 'a' } }], usage: null }, '[DONE]'));
  tap.end();
  t.deepEqual(counter.snapshot(), { promptTokens: 0n, completionTokens: 0n, cachedPromptTokens: 0n, countedResponses: 0n, uncountedResponses: 1n });
  t.is(warnings.length, 1);
  t.regex(JSON.stringify(warnings[0]), /no event of the stream carried usage/);
});

test('a JSON response without usage, or with usage that is not whole numbers ≥ 0, counts nothing', (t) => {
  const bodies = [
    { choices: [{ message: { content: 'x' } }] },
    { choices: [], usage: null },
    { choices: [], usage: { prompt_tokens: 5 } },
    { choices: [], usage: { prompt_tokens: -1, completion_tokens: 2 } },
    { choices: [], usage: { prompt_tokens: 1.5, completion_tokens: 2 } },
    { choices: [], usage: { prompt_tokens: '5', completion_tokens: 2 } },
    { choices: [], usage: { prompt_tokens: 2 ** 53, completion_tokens: 2 } },
    { choices: [], usage: [5, 2] },
  ];
  for (const b of bodies) t.deepEqual(count('/v1/chat/completions', [Buffer.from(JSON.stringify(b))], PLAIN_REQUEST), UNCOUNTED, JSON.stringify(b));
  t.deepEqual(count('/v1/chat/completions', [Buffer.from('<html>bad gateway</html>')], PLAIN_REQUEST), UNCOUNTED);
  t.deepEqual(count('/v1/chat/completions', [Buffer.from('{"usage":{"prompt_tokens":1,')], PLAIN_REQUEST), UNCOUNTED, 'truncated JSON');
});

test('a stream with a malformed usage chunk counts nothing', (t) => {
  t.deepEqual(count('/v1/chat/completions', [sse({ choices: [], usage: { prompt_tokens: 4, completion_tokens: -2 } }, '[DONE]')]), UNCOUNTED);
});

test('error responses produce no tokens: nothing counted, nothing flagged', (t) => {
  t.deepEqual(count('/v1/chat/completions', [Buffer.from('{"error":{"message":"model not found","code":404}}')], PLAIN_REQUEST), NOTHING);
  t.deepEqual(count('/v1/chat/completions', [sse({ error: { message: 'overloaded' } })]), NOTHING);
});

test('an empty response counts nothing and flags nothing', (t) => {
  t.deepEqual(count('/v1/chat/completions', []), NOTHING);
  t.deepEqual(count('/v1/chat/completions', [Buffer.from('  \n')]), NOTHING);
});

test('leading whitespace and a byte order mark before the JSON are read through', (t) => {
  const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n  '), CHAT_JSON]);
  for (let i = 0; i <= 6; i++) t.deepEqual(count('/v1/chat/completions', [body.subarray(0, i), body.subarray(i)], PLAIN_REQUEST), COUNTED(27n, 13n));
});

test('events after [DONE] are not counted', (t) => {
  const body = sse({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 1 } }, '[DONE]', { choices: [], usage: { prompt_tokens: 900, completion_tokens: 900 } });
  t.deepEqual(count('/v1/chat/completions', [body]), COUNTED(2n, 1n));
});

test('only the metered endpoints count; a query string does not matter', (t) => {
  t.deepEqual(count('/v1/models', [CHAT_JSON]), NOTHING);
  t.deepEqual(count('/v1/embeddings', [CHAT_JSON]), NOTHING);
  t.deepEqual(count('/v1/chat/completionsx', [CHAT_JSON]), NOTHING);
  t.deepEqual(count('/v1/chat/completions?api-version=1', [CHAT_JSON]), COUNTED(27n, 13n));
});

test('end() counts once; writes after it are ignored', (t) => {
  const counter = new TokenCounter();
  const tap = createUsageTap('/v1/chat/completions', PLAIN_REQUEST, counter);
  tap.write(CHAT_JSON);
  tap.end();
  tap.write(CHAT_JSON);
  tap.end();
  t.is(counter.snapshot().promptTokens, 27n);
  t.is(counter.snapshot().countedResponses, 1n);
});

test('responses accumulate in one counter', (t) => {
  const meter = new OpenAIUsageMeter(new TokenCounter());
  for (const [path, body] of [['/v1/chat/completions', CHAT_JSON], ['/v1/chat/completions', CHAT_STREAM], ['/v1/completions', COMPLETIONS_STREAM]] as const) {
    const tap = meter.createUsageTap(path, STREAM_REQUEST);
    tap.write(body);
    tap.end();
  }
  t.deepEqual(meter.counter.snapshot(), { promptTokens: 59n, completionTokens: 30n, cachedPromptTokens: 0n, countedResponses: 3n, uncountedResponses: 0n });
});

test('an oversized SSE line is skipped and the usage after it still counts', (t) => {
  const out: string[] = [];
  const r = new SseDataReader((d) => out.push(d), 16);
  r.write(Buffer.from('data: 0123456789abcdefXYZ\n\ndata: ok\n\n'));
  r.end();
  t.deepEqual(out, ['ok']);
});

test('readUsage names what is wrong', (t) => {
  t.deepEqual(readUsage({ usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 } }), { usage: { promptTokens: 1, completionTokens: 0, cachedPromptTokens: 0 } });
  t.deepEqual(readUsage({ usage: { prompt_tokens: 1, completion_tokens: 'x' } }), { missing: 'usage.completion_tokens is not a whole number ≥ 0' });
  t.deepEqual(readUsage([]), { missing: 'the body is not a JSON object' });
});

test('cached prompt tokens (prompt_tokens_details.cached_tokens) are counted as a part of the prompt tokens', (t) => {
  const counter = new TokenCounter();
  const tap = createUsageTap('/v1/chat/completions', STREAM_REQUEST, counter);
  tap.write(sse({ choices: [], usage: { prompt_tokens: 40, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 32 } } }, '[DONE]'));
  tap.end();
  t.like(counter.snapshot(), { promptTokens: 40n, completionTokens: 5n, cachedPromptTokens: 32n, countedResponses: 1n });
  t.deepEqual(readUsage({ usage: { prompt_tokens: 4, completion_tokens: 1, prompt_tokens_details: null } }), { usage: { promptTokens: 4, completionTokens: 1, cachedPromptTokens: 0 } });
  t.deepEqual(readUsage({ usage: { prompt_tokens: 4, completion_tokens: 1, prompt_tokens_details: {} } }), { usage: { promptTokens: 4, completionTokens: 1, cachedPromptTokens: 0 } });
});

test('a usage claiming more cached tokens than prompt tokens, or a malformed cached count, counts nothing', (t) => {
  for (const details of [{ cached_tokens: 5 }, { cached_tokens: -1 }, { cached_tokens: 1.5 }, { cached_tokens: '2' }, 7]) {
    const body = Buffer.from(JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 1, prompt_tokens_details: details } }));
    t.deepEqual(count('/v1/chat/completions', [body], PLAIN_REQUEST), UNCOUNTED, JSON.stringify(details));
  }
});

// ---------------------------------------------------------------- prepareRequest

const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

test('prepareRequest asks a streaming request for usage', (t) => {
  for (const path of ['/v1/chat/completions', '/v1/completions']) {
    const out = prepareRequest(path, STREAM_REQUEST);
    t.deepEqual(json(out), { ...json(STREAM_REQUEST), stream_options: { include_usage: true, continuous_usage_stats: true } });
  }
});

test('prepareRequest keeps the client\'s other stream options and overrides include_usage: false', (t) => {
  const body = Buffer.from('{"stream":true,"stream_options":{"include_usage":false,"x":1},"model":"m"}');
  t.deepEqual(json(prepareRequest('/v1/chat/completions', body)), { stream: true, stream_options: { include_usage: true, x: 1, continuous_usage_stats: true }, model: 'm' });
  const nulled = Buffer.from('{"stream":true,"stream_options":null}');
  t.deepEqual(json(prepareRequest('/v1/chat/completions', nulled)), { stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } });
});

test('prepareRequest leaves every other byte as the client wrote it (a large seed is not rounded)', (t) => {
  const body = Buffer.from('{ "seed": 12345678901234567890, "stream" : true ,"messages":[{"content":"a } \\" { ] ["}], "n":1.0 }');
  const out = prepareRequest('/v1/chat/completions', body).toString('utf8');
  t.is(out, '{ "seed": 12345678901234567890, "stream" : true ,"messages":[{"content":"a } \\" { ] ["}], "n":1.0 ,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}');
  t.truthy(JSON.parse(out));
});

test('prepareRequest replaces every duplicate stream_options member', (t) => {
  const body = Buffer.from('{"stream_options":{"include_usage":false},"stream":true,"stream_options":{"include_usage":false}}');
  const out = prepareRequest('/v1/chat/completions', body).toString('utf8');
  t.is(out, '{"stream_options":{"include_usage":true,"continuous_usage_stats":true},"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}');
});

test('prepareRequest leaves non-streaming, non-JSON, non-UTF-8 and unmetered requests alone', (t) => {
  const same = (path: string, body: Buffer) => t.is(prepareRequest(path, body), body, `${path} ${body.toString('latin1')}`);
  same('/v1/chat/completions', PLAIN_REQUEST);
  same('/v1/chat/completions', Buffer.from('{"stream":false}'));
  same('/v1/chat/completions', Buffer.from('{"stream":"true"}'));
  same('/v1/chat/completions', Buffer.from('not json'));
  same('/v1/chat/completions', Buffer.from('[{"stream":true}]'));
  same('/v1/chat/completions', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
  same('/v1/chat/completions', Buffer.alloc(0));
  same('/v1/embeddings', STREAM_REQUEST);
});
