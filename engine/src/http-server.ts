// The engine's OpenAI-compatible HTTP API around one loaded model:
//   POST /v1/chat/completions, POST /v1/completions (whole answers, or SSE with stream: true),
//   GET /v1/models, GET /health.
// Token counts in `usage` are the engine's own: the prompt as its tokenizer encoded it (chat template
// included), the completion as the tokens it generated.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FinishReason, ModelRunner } from './model-runner.js';
import { parseChatRequest, parseCompletionRequest, RequestError, type CommonRequest } from './openai-requests.js';
import { errorBody, finishChunk, newHeader, tokenChunk, usage, usageChunk, wholeResponse, type Kind } from './openai-responses.js';
import { endEventStream, startEventStream, writeEvent } from './sse.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export type EngineModel = Pick<ModelRunner, 'contextSize' | 'completionPromptTokens' | 'chatPromptTokens' | 'generate'>;

export interface EngineServerOptions {
  runner: EngineModel;
  servedModelName: string;
  /** One line per request or failure; stderr in the engine's main. */
  log?: (line: string) => void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RequestError(413, null, `the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RequestError(400, null, 'the request body is not valid JSON');
  }
}

export function createEngineServer(options: EngineServerOptions): Server {
  const { runner, servedModelName } = options;
  const log = options.log ?? (() => undefined);

  /** How many tokens to generate: what was asked, within what the context has left. */
  function completionBudget(request: CommonRequest, promptTokens: number, promptField: string): number {
    const room = runner.contextSize - promptTokens;
    if (room <= 0) throw new RequestError(400, promptField, `the prompt is ${promptTokens} tokens; the context holds ${runner.contextSize}: shorten ${promptField}`);
    if (request.maxTokens === undefined) return room;
    if (request.maxTokens > room) {
      throw new RequestError(400, 'max_tokens', `max_tokens ${request.maxTokens} + the prompt's ${promptTokens} tokens exceed the context's ${runner.contextSize}: ask for at most ${room}`);
    }
    return request.maxTokens;
  }

  async function complete(kind: Kind, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const request = kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
    if (request.model !== undefined && request.model !== servedModelName) {
      throw new RequestError(404, 'model', `The model \`${request.model}\` does not exist; this engine serves \`${servedModelName}\``, 'model_not_found');
    }
    const promptTokens = 'messages' in request ? runner.chatPromptTokens(request.messages) : runner.completionPromptTokens(request.prompt);
    const maxTokens = completionBudget(request, promptTokens.length, kind === 'chat' ? 'messages' : 'prompt');
    const header = newHeader(kind, servedModelName);
    const generation = runner.generate(promptTokens, { maxTokens, temperature: request.temperature, topP: request.topP, seed: request.seed });

    let completionTokens = 0;
    let finish: FinishReason = 'stop';
    if (!request.stream) {
      let text = '';
      for (;;) {
        const step = await generation.next();
        if (step.done) {
          finish = step.value;
          break;
        }
        completionTokens++;
        text += step.value.text;
      }
      sendJson(res, 200, wholeResponse(kind, header, text, finish, usage(promptTokens.length, completionTokens)));
      log(`${kind} ${header.id}: prompt ${promptTokens.length} completion ${completionTokens} tokens, ${finish}`);
      return;
    }

    // What each chunk says about usage: the count so far (continuous_usage_stats), null (usage comes
    // in its own last chunk), or nothing.
    const chunkUsage = (completion: number) =>
      request.continuousUsage ? usage(promptTokens.length, completion) : request.includeUsage ? null : undefined;
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    startEventStream(res);
    try {
      for (;;) {
        if (clientGone) {
          await generation.return('stop');
          log(`${kind} ${header.id}: client left after ${completionTokens} tokens`);
          return;
        }
        const step = await generation.next();
        if (step.done) {
          finish = step.value;
          break;
        }
        completionTokens++;
        writeEvent(res, tokenChunk(kind, header, step.value.text, completionTokens === 1, chunkUsage(completionTokens)));
      }
    } catch (err) {
      // Headers are sent: the failure goes in the stream, and no [DONE] follows it.
      log(`${kind} ${header.id}: generation failed: ${(err as Error).message}`);
      writeEvent(res, errorBody(`generation failed: ${(err as Error).message}`, 'server_error', null, null));
      res.end();
      return;
    }
    writeEvent(res, finishChunk(kind, header, finish, completionTokens > 0, chunkUsage(completionTokens)));
    if (request.includeUsage) writeEvent(res, usageChunk(kind, header, usage(promptTokens.length, completionTokens)));
    endEventStream(res);
    log(`${kind} ${header.id} (stream): prompt ${promptTokens.length} completion ${completionTokens} tokens, ${finish}`);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://engine').pathname;
    const routes: Record<string, { method: string; run: () => Promise<void> | void }> = {
      '/health': { method: 'GET', run: () => sendJson(res, 200, { status: 'ok' }) },
      '/v1/models': {
        method: 'GET',
        run: () => sendJson(res, 200, { object: 'list', data: [{ id: servedModelName, object: 'model', created: 0, owned_by: 'chrysalis' }] }),
      },
      '/v1/chat/completions': { method: 'POST', run: () => complete('chat', req, res) },
      '/v1/completions': { method: 'POST', run: () => complete('completion', req, res) },
    };
    const target = routes[path];
    if (!target) throw new RequestError(404, null, `no route ${path}: this engine serves /v1/chat/completions, /v1/completions, /v1/models and /health`, 'not_found');
    if (req.method !== target.method) throw new RequestError(405, null, `${path} takes ${target.method}, not ${req.method ?? '?'}`, 'method_not_allowed');
    await target.run();
  }

  return createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const known = err instanceof RequestError;
      if (!known) log(`${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = known ? err.status : 500;
      const type = known ? (status === 404 ? 'NotFoundError' : 'invalid_request_error') : 'server_error';
      sendJson(res, status, errorBody(known ? err.message : 'internal error', type, known ? err.param : null, known ? err.code : null));
    });
  });
}
