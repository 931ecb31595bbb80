// The OpenAI-compatible response objects: whole answers, stream chunks and usage. A stream carries one
// chunk per completion token (finish_reason null), then one chunk with the finish_reason and no text,
// then — with stream_options.include_usage — a chunk with empty choices and the usage; so the token
// chunks of a stream number exactly usage.completion_tokens. With stream_options.continuous_usage_stats
// every token chunk and the finish chunk also carry the usage so far (the k-th token chunk says k).
import { randomUUID } from 'node:crypto';
import type { FinishReason } from './model-runner.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

export type Kind = 'chat' | 'completion';

/** The fields every object of one response shares. */
export interface ResponseHeader {
  id: string;
  created: number;
  model: string;
}

export const newHeader = (kind: Kind, model: string): ResponseHeader => ({
  id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`,
  created: Math.floor(Date.now() / 1000),
  model,
});

export function wholeResponse(kind: Kind, h: ResponseHeader, text: string, finish: FinishReason, u: Usage): object {
  if (kind === 'chat') {
    return { ...h, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }], usage: u };
  }
  return { ...h, object: 'text_completion', choices: [{ index: 0, text, logprobs: null, finish_reason: finish }], usage: u };
}

/** The `usage` member of a token or finish chunk: the usage so far, null, or absent. */
export type ChunkUsage = Usage | null | undefined;

/** One chunk per token; the first chat chunk also names the role. */
export function tokenChunk(kind: Kind, h: ResponseHeader, text: string, first: boolean, chunkUsage: ChunkUsage): object {
  const extra = chunkUsage !== undefined ? { usage: chunkUsage } : {};
  if (kind === 'chat') {
    const delta = first ? { role: 'assistant', content: text } : { content: text };
    return { ...h, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }], ...extra };
  }
  return { ...h, object: 'text_completion', choices: [{ index: 0, text, logprobs: null, finish_reason: null }], ...extra };
}

/** The chunk that says why the stream ended; it carries no text. */
export function finishChunk(kind: Kind, h: ResponseHeader, finish: FinishReason, sentRole: boolean, chunkUsage: ChunkUsage): object {
  const extra = chunkUsage !== undefined ? { usage: chunkUsage } : {};
  if (kind === 'chat') {
    return { ...h, object: 'chat.completion.chunk', choices: [{ index: 0, delta: sentRole ? {} : { role: 'assistant' }, logprobs: null, finish_reason: finish }], ...extra };
  }
  return { ...h, object: 'text_completion', choices: [{ index: 0, text: '', logprobs: null, finish_reason: finish }], ...extra };
}

export function usageChunk(kind: Kind, h: ResponseHeader, u: Usage): object {
  return { ...h, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: u };
}

export function errorBody(message: string, type: string, param: string | null, code: string | null): object {
  return { error: { message, type, param, code } };
}
