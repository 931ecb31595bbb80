// The RA-TLS endpoint's reverse proxy to the inference server on loopback. Each request body is read
// whole (bounded), handed to metering's prepareRequest, and forwarded; the response streams back chunk by
// chunk as the server writes it (Server-Sent Events included: nothing is buffered or re-encoded), and each
// chunk passes through metering's tap on the way. The server is asked for an identity encoding so the
// tap reads the bytes the client reads.
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Logger } from 'winston';
import type { UsageHooks, UsageTap } from './usage-hooks.js';

/** The largest request body forwarded: chat prompts with long contexts fit, a stray upload does not. */
export const DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** RFC 9110 7.6.1 hop-by-hop fields, and the ones the proxy sets itself. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'accept-encoding']);

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_FORWARDED.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface ProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  usage: UsageHooks;
  maxRequestBytes?: number;
  logger: Logger;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ error: { message, type: 'chrysalis_gateway_error' } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Returns the request handler that forwards to the inference server. */
export function proxyHandler(options: ProxyOptions) {
  const agent = new Agent({ keepAlive: true });
  const limit = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const log = options.logger;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    let body: Buffer;
    try {
      body = await readBody(req, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) sendError(res, 413, `the request body exceeds ${limit} bytes`);
      else res.destroy();
      return;
    }
    let forwarded: Buffer;
    let tap: UsageTap;
    try {
      forwarded = options.usage.prepareRequest(path, body);
      tap = options.usage.createUsageTap(path, forwarded);
    } catch (err) {
      // Metering could not take the request: serving it uncounted would give tokens away unbilled.
      log.error('metering refused to prepare a request; not forwarded', { path, error: err instanceof Error ? err.message : String(err) });
      sendError(res, 500, 'the replica could not meter this request');
      return;
    }
    let tapEnded = false;
    const endTap = (): void => {
      if (tapEnded) return;
      tapEnded = true;
      try {
        tap.end();
      } catch (err) {
        log.error('usage tap failed at the end of a response', { path, error: err instanceof Error ? err.message : String(err) });
      }
    };
    const headers = forwardable(req.headers);
    headers.host = `${options.upstreamHost}:${options.upstreamPort}`;
    headers['accept-encoding'] = 'identity';
    if (forwarded.length > 0 || !['GET', 'HEAD'].includes(req.method ?? 'GET')) headers['content-length'] = String(forwarded.length);
    const upstream = httpRequest({ host: options.upstreamHost, port: options.upstreamPort, method: req.method, path, headers, agent });
    upstream.on('response', (answer) => {
      const responseHeaders = forwardable(answer.headers);
      if (answer.headers['content-length'] !== undefined) responseHeaders['content-length'] = answer.headers['content-length'];
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaders);
      res.flushHeaders();
      answer.on('data', (chunk: Buffer) => {
        try {
          if (!tapEnded) tap.write(chunk);
        } catch (err) {
          // The client still gets its answer; the rest of this response goes uncounted (under, never over).
          log.error('usage tap failed; the rest of this response is not counted', { path, error: err instanceof Error ? err.message : String(err) });
          tapEnded = true;
        }
        if (!res.write(chunk)) {
          answer.pause();
          res.once('drain', () => answer.resume());
        }
      });
      answer.on('end', () => {
        endTap();
        res.end();
      });
      answer.on('error', () => {
        endTap();
        res.destroy();
      });
    });
    upstream.on('error', (err) => {
      endTap();
      if (res.destroyed || res.writableEnded) return; // the client left first; the upstream was cut for it
      log.warn('the inference server did not answer', { path, error: err.message });
      sendError(res, 502, 'the inference server did not answer');
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        upstream.destroy();
        endTap();
      }
    });
    upstream.end(forwarded);
  };
}
