// OpenAI-compatible request bodies → what the runner needs. Anything the engine would otherwise ignore
// silently (n > 1, stop sequences, tools) is refused with the field named, so a client never gets an
// answer computed differently from what it asked for.
import type { ChatMessage } from './model-runner.js';

/** A 4xx answer: the OpenAI error shape with the offending field in `param`. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly param: string | null,
    message: string,
    readonly code: string = 'invalid_request_error',
  ) {
    super(message);
  }
}

export interface CommonRequest {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  /**
   * stream_options.continuous_usage_stats (vLLM's extension): every chunk carries the usage so far, so a
   * meter that sees a stream cut short still knows how many tokens the client received.
   */
  continuousUsage: boolean;
  /** Undefined: as many as the context has room for (chat) or 16 (completions, as OpenAI's default). */
  maxTokens: number | undefined;
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
}

export interface ChatRequest extends CommonRequest {
  messages: ChatMessage[];
}

export interface CompletionRequest extends CommonRequest {
  prompt: string;
}

type Body = Record<string, unknown>;

function asBody(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError(400, null, 'the request body must be a JSON object');
  return body as Body;
}

const present = (v: unknown) => v !== undefined && v !== null;

function optionalNumber(body: Body, field: string, min: number, max: number, integer: boolean): number | undefined {
  const v = body[field];
  if (!present(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new RequestError(400, field, `${field} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function common(body: Body, maxTokensFields: string[]): CommonRequest {
  const model = body.model;
  if (present(model) && typeof model !== 'string') throw new RequestError(400, 'model', 'model must be a string: the served model name (GET /v1/models)');
  const stream = body.stream;
  if (present(stream) && typeof stream !== 'boolean') throw new RequestError(400, 'stream', 'stream must be true or false');
  const streamOptions = body.stream_options;
  let includeUsage = false;
  let continuousUsage = false;
  if (present(streamOptions)) {
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions)) throw new RequestError(400, 'stream_options', 'stream_options must be an object');
    const include = (streamOptions as Body).include_usage;
    if (present(include) && typeof include !== 'boolean') throw new RequestError(400, 'stream_options.include_usage', 'stream_options.include_usage must be true or false');
    if (stream !== true) throw new RequestError(400, 'stream_options', 'stream_options is only allowed with stream: true');
    includeUsage = include === true;
    const continuous = (streamOptions as Body).continuous_usage_stats;
    if (present(continuous) && typeof continuous !== 'boolean') {
      throw new RequestError(400, 'stream_options.continuous_usage_stats', 'stream_options.continuous_usage_stats must be true or false');
    }
    continuousUsage = continuous === true;
  }
  // One choice per request: n must be absent or 1.
  optionalNumber(body, 'n', 1, 1, true);
  const stop = body.stop;
  if (present(stop) && !(Array.isArray(stop) && stop.length === 0)) {
    throw new RequestError(400, 'stop', 'stop sequences are not supported by this engine: generation ends at the model\'s end-of-generation token or max_tokens; drop stop');
  }
  for (const field of ['tools', 'functions', 'response_format', 'logprobs', 'echo', 'best_of', 'suffix']) {
    const v = body[field];
    if (present(v) && v !== false && !(Array.isArray(v) && v.length === 0)) throw new RequestError(400, field, `${field} is not supported by this engine; drop it`);
  }
  let maxTokens: number | undefined;
  for (const field of maxTokensFields) maxTokens ??= optionalNumber(body, field, 0, 1 << 24, true);
  return {
    model: model as string | undefined,
    stream: stream === true,
    includeUsage,
    continuousUsage,
    maxTokens,
    temperature: optionalNumber(body, 'temperature', 0, 2, false) ?? 1,
    topP: optionalNumber(body, 'top_p', 0, 1, false),
    seed: optionalNumber(body, 'seed', -(2 ** 31), 2 ** 32 - 1, true),
  };
}

function messageContent(content: unknown, index: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, p) => {
        if (typeof part === 'object' && part !== null && (part as Body).type === 'text' && typeof (part as Body).text === 'string') return (part as Body).text as string;
        throw new RequestError(400, `messages[${index}].content[${p}]`, `messages[${index}].content[${p}] must be {"type": "text", "text": "..."}: this engine takes text only`);
      })
      .join('');
  }
  throw new RequestError(400, `messages[${index}].content`, `messages[${index}].content must be a string or an array of text parts`);
}

export function parseChatRequest(raw: unknown): ChatRequest {
  const body = asBody(raw);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError(400, 'messages', 'messages must be a non-empty array of {role, content}');
  const parsed = messages.map((m: unknown, i): ChatMessage => {
    if (typeof m !== 'object' || m === null) throw new RequestError(400, `messages[${i}]`, `messages[${i}] must be an object {role, content}`);
    const role = (m as Body).role === 'developer' ? 'system' : (m as Body).role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      throw new RequestError(400, `messages[${i}].role`, `messages[${i}].role must be system, developer, user or assistant, got ${JSON.stringify((m as Body).role)}`);
    }
    return { role, content: messageContent((m as Body).content, i) };
  });
  return { ...common(body, ['max_completion_tokens', 'max_tokens']), messages: parsed };
}

export function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = asBody(raw);
  let prompt = body.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') throw new RequestError(400, 'prompt', 'prompt must be a string (or an array of exactly one string)');
  const request = common(body, ['max_tokens']);
  return { ...request, maxTokens: request.maxTokens ?? 16, prompt };
}
