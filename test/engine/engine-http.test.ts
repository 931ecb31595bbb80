// The engine answers OpenAI-compatible requests on 127.0.0.1 with a real llama.cpp model (the tiny
// llama, made here): whole and streamed chat completions and completions, usage counted by the engine's
// tokenizer, one stream chunk per completion token, and requests it cannot honour refused by field.
import test from 'ava';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { getLlama, Llama2ChatWrapper, type Llama, type LlamaModel } from 'node-llama-cpp';
import { createEngineServer } from '../../engine/src/http-server.js';
import { ModelRunner } from '../../engine/src/model-runner.js';
import { readEventStream } from './sse-client.js';
import { writeTinyModel } from './tiny-model.js';

let file: Awaited<ReturnType<typeof writeTinyModel>>;
let runner: ModelRunner;
let server: Server;
let base: string;
// A second, independent load of the same file: the test's own tokenizer.
let llama: Llama;
let reference: LlamaModel;

test.before(async () => {
  file = await writeTinyModel(3);
  runner = await ModelRunner.load(file.path, { contextSize: 512 });
  server = createEngineServer({ runner, servedModelName: 'tiny' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  llama = await getLlama({ gpu: false, build: 'never' });
  reference = await llama.loadModel({ modelPath: file.path });
});
test.after.always(async () => {
  server?.closeAllConnections();
  server?.close();
  await runner?.close();
  await llama?.dispose();
  await file?.remove();
});

const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say something about moths.' },
];

test('a chat completion: the answer, and usage from the engine\'s tokenizer', async (t) => {
  const res = await post('/v1/chat/completions', { model: 'tiny', messages, max_tokens: 12, temperature: 0.7, seed: 11 });
  t.is(res.status, 200);
  const body = (await res.json()) as { object: string; model: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: Usage };
  t.is(body.object, 'chat.completion');
  t.is(body.model, 'tiny');
  t.is(body.choices.length, 1);
  t.is(body.choices[0]!.message.role, 'assistant');
  t.is(typeof body.choices[0]!.message.content, 'string');
  t.true(body.usage.completion_tokens <= 12);
  t.is(body.choices[0]!.finish_reason, body.usage.completion_tokens === 12 ? 'length' : 'stop');
  t.is(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
  // The prompt the engine counted is the conversation rendered by the model's chat template — for a
  // llama GGUF without a template of its own, node-llama-cpp's Llama 2 chat format — and tokenized:
  // rebuilt here with that wrapper and the independently loaded tokenizer.
  const rendered = new Llama2ChatWrapper().generateContextState({
    chatHistory: [
      { type: 'system', text: messages[0]!.content },
      { type: 'user', text: messages[1]!.content },
      { type: 'model', response: [] },
    ],
  }).contextText;
  t.true(rendered.toString().includes('[INST]'));
  t.is(body.usage.prompt_tokens, rendered.tokenize(reference.tokenizer).length);
});

test('a streamed chat completion: one chunk per completion token, a finish chunk, the usage chunk, [DONE]; the same text as unstreamed', async (t) => {
  const request = { model: 'tiny', messages, max_tokens: 20, temperature: 0.9, seed: 42 };
  const whole = (await (await post('/v1/chat/completions', request)).json()) as { choices: { message: { content: string } }[]; usage: Usage };
  const res = await post('/v1/chat/completions', { ...request, stream: true, stream_options: { include_usage: true } });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const { events, done } = await readEventStream(res);
  t.true(done, 'the stream ends with data: [DONE]');
  type Chunk = { object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage: Usage | null };
  const chunks = events as unknown as Chunk[];
  for (const c of chunks) t.is(c.object, 'chat.completion.chunk');
  const tokenChunks = chunks.filter((c) => c.choices.length === 1 && c.choices[0]!.finish_reason === null);
  const finish = chunks.filter((c) => c.choices.length === 1 && c.choices[0]!.finish_reason !== null);
  const usageChunks = chunks.filter((c) => c.choices.length === 0);
  t.is(finish.length, 1);
  t.is(usageChunks.length, 1);
  t.is(chunks.at(-1), usageChunks[0], 'usage comes last');
  t.is(chunks.at(-2), finish[0]);
  const usage = usageChunks[0]!.usage!;
  t.is(tokenChunks.length, usage.completion_tokens, 'one chunk per completion token');
  t.true(tokenChunks.length > 0);
  t.is(tokenChunks[0]!.choices[0]!.delta.role, 'assistant');
  t.is(tokenChunks.map((c) => c.choices[0]!.delta.content).join(''), whole.choices[0]!.message.content, 'same seed, same text');
  t.deepEqual(usage, whole.usage);
  for (const c of [...tokenChunks, ...finish]) t.is(c.usage, null);
});

test('a completion counts the prompt as the model\'s tokenizer does (BOS + text), streamed or not', async (t) => {
  const prompt = 'The moth flew toward the lamp, ünd';
  const expectedPrompt = 1 + reference.tokenize(prompt).length;
  const whole = (await (await post('/v1/completions', { model: 'tiny', prompt, max_tokens: 6, temperature: 0, seed: 1 })).json()) as {
    object: string;
    choices: { text: string; finish_reason: string }[];
    usage: Usage;
  };
  t.is(whole.object, 'text_completion');
  t.is(whole.usage.prompt_tokens, expectedPrompt);
  const res = await post('/v1/completions', { model: 'tiny', prompt, max_tokens: 6, temperature: 0, seed: 1, stream: true, stream_options: { include_usage: true } });
  const { events, done } = await readEventStream(res);
  t.true(done);
  const chunks = events as unknown as { choices: { text: string; finish_reason: string | null }[]; usage: Usage | null }[];
  const tokenChunks = chunks.filter((c) => c.choices[0]?.finish_reason === null);
  const usage = chunks.at(-1)!.usage!;
  t.is(usage.prompt_tokens, expectedPrompt);
  t.is(tokenChunks.length, usage.completion_tokens);
  t.deepEqual(usage, whole.usage);
  t.is(tokenChunks.map((c) => c.choices[0]!.text).join(''), whole.choices[0]!.text);
});

test('a seed is a 32-bit value: -2 and 4294967294 sample alike, -2 and -3 do not (not both clamped to 0)', async (t) => {
  const text = async (seed: number) => {
    const body = (await (await post('/v1/completions', { model: 'tiny', prompt: 'The moth', max_tokens: 16, temperature: 1, seed })).json()) as { choices: { text: string }[] };
    return body.choices[0]!.text;
  };
  t.is(await text(-2), await text(4294967294));
  t.not(await text(-2), await text(-3));
});

test('requests without a seed sample with seeds of their own, not one per second of the clock', async (t) => {
  // Made within a second of each other: seeded by the clock, all four would be one answer.
  const request = { model: 'tiny', prompt: 'The moth', max_tokens: 16, temperature: 1 };
  const texts = await Promise.all([1, 2, 3, 4].map(async () => ((await (await post('/v1/completions', request)).json()) as { choices: { text: string }[] }).choices[0]!.text));
  t.true(new Set(texts).size > 1, JSON.stringify(texts));
});

test('without stream_options.include_usage a stream has no usage chunk', async (t) => {
  const { events, done } = await readEventStream(await post('/v1/completions', { prompt: 'hi', max_tokens: 3, seed: 2, stream: true }));
  t.true(done);
  t.false(events.some((e) => 'usage' in e));
  t.is(events.filter((e) => (e.choices as { finish_reason: unknown }[])[0]?.finish_reason === null).length, 3);
});

test('with stream_options.continuous_usage_stats every chunk carries the usage so far: the k-th token chunk says k', async (t) => {
  const res = await post('/v1/chat/completions', { messages, max_tokens: 10, seed: 8, stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } });
  const { events, done } = await readEventStream(res);
  t.true(done);
  const chunks = events as unknown as { choices: { finish_reason: string | null }[]; usage: Usage }[];
  const tokenChunks = chunks.filter((c) => c.choices[0]?.finish_reason === null);
  t.true(tokenChunks.length > 0);
  tokenChunks.forEach((c, k) => t.is(c.usage.completion_tokens, k + 1));
  const last = chunks.at(-1)!.usage;
  t.is(last.completion_tokens, tokenChunks.length);
  for (const c of chunks) t.is(c.usage.prompt_tokens, last.prompt_tokens);
  t.like(await (await post('/v1/completions', { prompt: 'x', stream: true, stream_options: { continuous_usage_stats: 'yes' } })).json(), { error: { param: 'stream_options.continuous_usage_stats' } });
});

test('requests that arrive together are all answered (they take turns on the one sequence)', async (t) => {
  const answers = await Promise.all([1, 2, 3].map((seed) => post('/v1/completions', { prompt: 'abc', max_tokens: 4, seed }).then((r) => r.json() as Promise<{ usage: Usage }>)));
  for (const a of answers) t.is(a.usage.completion_tokens, 4);
});

test('GET /v1/models lists the served name and GET /health answers', async (t) => {
  const models = (await (await fetch(`${base}/v1/models`)).json()) as { object: string; data: { id: string }[] };
  t.is(models.object, 'list');
  t.deepEqual(models.data.map((m) => m.id), ['tiny']);
  const health = await fetch(`${base}/health`);
  t.is(health.status, 200);
});

test('requests the engine cannot honour are refused with the field named', async (t) => {
  const error = async (path: string, body: unknown) => {
    const res = await post(path, body);
    return { status: res.status, ...((await res.json()) as { error: { param: string | null; message: string } }).error };
  };
  t.like(await error('/v1/chat/completions', { model: 'other', messages }), { status: 404, param: 'model' });
  t.like(await error('/v1/chat/completions', { messages: [] }), { status: 400, param: 'messages' });
  t.like(await error('/v1/chat/completions', { messages: [{ role: 'robot', content: 'x' }] }), { status: 400, param: 'messages[0].role' });
  t.like(await error('/v1/completions', { prompt: 'x', max_tokens: -1 }), { status: 400, param: 'max_tokens' });
  t.like(await error('/v1/completions', { prompt: 'x', max_tokens: 100_000 }), { status: 400, param: 'max_tokens' });
  t.like(await error('/v1/completions', { prompt: 'x', temperature: 3 }), { status: 400, param: 'temperature' });
  t.like(await error('/v1/completions', { prompt: 'x', stop: ['\n'] }), { status: 400, param: 'stop' });
  t.like(await error('/v1/completions', { prompt: 'x', n: 2 }), { status: 400, param: 'n' });
  t.like(await error('/v1/completions', { prompt: 'x', stream_options: { include_usage: true } }), { status: 400, param: 'stream_options' });
  const notJson = await fetch(`${base}/v1/completions`, { method: 'POST', body: '{' });
  t.is(notJson.status, 400);
  t.is((await fetch(`${base}/v1/completions`)).status, 405);
  t.is((await fetch(`${base}/v2/anything`)).status, 404);
});
