// An OpenAI-compatible chat completion over a verified replica connection (attested-connection.ts):
// POST /v1/chat/completions with one user message, answered as one JSON object or, with stream, as
// Server-Sent Events whose deltas are handed to the caller as they arrive.
import type { IncomingMessage } from 'node:http';
import type { AttestedConnection } from './attested-connection.js';

export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';

export interface ChatRequest {
  model: string;
  prompt: string;
  maxTokens?: number;
  stream?: boolean;
  /** Sampling temperature (0 picks the likeliest token each time); the replica's default when absent. */
  temperature?: number;
  /** Sampling seed: the same seed, prompt and model give the same answer. */
  seed?: number;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatAnswer {
  content: string;
  finishReason?: string;
  usage?: ChatUsage;
}

/** The replica answered, but not with a completion (an HTTP error status, or a body that is not one). */
export class ChatFailed extends Error {
  readonly code = 'COMPLETION_FAILED';
}

function usageOf(body: { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null }): ChatUsage | undefined {
  const u = body.usage;
  if (!u || typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number') return undefined;
  return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens };
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface CompletionChunk {
  choices?: { delta?: { content?: string | null }; message?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  error?: { message?: string };
}

/** Sends the chat completion; `onDelta` gets each streamed piece of text (stream only). */
export async function chatCompletion(connection: AttestedConnection, request: ChatRequest, onDelta?: (text: string) => void): Promise<ChatAnswer> {
  const body = JSON.stringify({
    model: request.model,
    messages: [{ role: 'user', content: request.prompt }],
    ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    ...(request.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const res = await connection.request('POST', CHAT_COMPLETIONS_PATH, body, { 'content-type': 'application/json', accept: request.stream ? 'text/event-stream' : 'application/json' });
  if ((res.statusCode ?? 0) >= 400) {
    const detail = await text(res);
    throw new ChatFailed(`the replica answered HTTP ${res.statusCode}: ${detail.slice(0, 500)}`);
  }
  if (!request.stream) {
    const raw = await text(res);
    let parsed: CompletionChunk;
    try {
      parsed = JSON.parse(raw) as CompletionChunk;
    } catch {
      throw new ChatFailed(`the replica's answer is not JSON: ${raw.slice(0, 200)}`);
    }
    const choice = parsed.choices?.[0];
    if (!choice) throw new ChatFailed(`the replica's answer has no choices: ${raw.slice(0, 200)}`);
    const usage = usageOf(parsed);
    return { content: choice.message?.content ?? '', ...(choice.finish_reason ? { finishReason: choice.finish_reason } : {}), ...(usage ? { usage } : {}) };
  }
  const answer: ChatAnswer = { content: '' };
  let pending = '';
  const onLine = (line: string): void => {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '' || data === '[DONE]') return;
    let chunk: CompletionChunk;
    try {
      chunk = JSON.parse(data) as CompletionChunk;
    } catch {
      throw new ChatFailed(`the replica streamed an event that is not JSON: ${data.slice(0, 200)}`);
    }
    if (chunk.error) throw new ChatFailed(`the replica streamed an error: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
    const choice = chunk.choices?.[0];
    const piece = choice?.delta?.content;
    if (piece) {
      answer.content += piece;
      onDelta?.(piece);
    }
    if (choice?.finish_reason) answer.finishReason = choice.finish_reason;
    const usage = usageOf(chunk);
    if (usage) answer.usage = usage;
  };
  res.setEncoding('utf8');
  for await (const piece of res) {
    pending += piece as string;
    const lines = pending.split(/\r\n|\r|\n/);
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (pending) onLine(pending);
  return answer;
}
