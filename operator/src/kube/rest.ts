// The one HTTP transport to the Kubernetes API: plain requests and streaming watches over Node's
// https with the credentials from a KubeConfig, a client-side token bucket (QPS/burst, like client-go's
// rest.Config) and a per-request timeout. Higher layers (kube-client.ts, informer.ts, leader-election.ts,
// events.ts) build on it; nothing here knows about leadership or caching. A request may carry a
// `beforeSend` check, run at the last moment before its bytes leave (that is where the leader fence goes).
//
// Why not KubernetesObjectApi: it has no subresource support (status, binding) and no streaming with
// our own watchdog; a 150-line transport is easier to reason about than working around both.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { TokenBucket } from './token-bucket.js';
import type { OperatorMetrics } from './metrics.js';
import { resourceOfPath, verbOfRequest } from './request-resource.js';

/** A non-2xx answer from the API, with the Status fields a caller branches on. */
export class KubeApiError extends Error {
  constructor(
    /** HTTP status code: 404 NotFound, 409 Conflict/AlreadyExists, 410 Gone/Expired, 422 Invalid. */
    readonly code: number,
    /** metav1.Status reason, e.g. 'NotFound', 'AlreadyExists', 'Conflict', 'Expired'. */
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${code} ${reason}: ${message}`);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.code === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.code === 410;

export interface RestClientOptions {
  /** Client-side rate limit on outgoing requests (default 50 QPS, burst 100). */
  qps?: number;
  burst?: number;
  /** Timeout of a non-watch request (default 30 s). */
  timeoutMs?: number;
  metrics?: OperatorMetrics;
  userAgent?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default application/json; server-side apply uses application/apply-patch+yaml. */
  contentType?: string;
  signal?: AbortSignal;
  /** Timeout of this request, in place of the client's (an informer's LIST pages take a longer one). */
  timeoutMs?: number;
  /**
   * Runs synchronously at the last moment before the request's bytes go to the socket: after the
   * client-side rate limit's wait, the credentials and the connection (TLS handshake included). If it
   * throws, the request is never sent and rejects with what it threw. The leader fence: a write can wait
   * seconds in the rate limit, and only the moment it leaves may count (a check before the wait lets a
   * deposed or paused leader's write out late).
   */
  beforeSend?: () => void;
}

/** One line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export class RestClient {
  private readonly server: URL;
  private readonly bucket: TokenBucket;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  /** Sockets connected (and, for TLS, handshaken): a request on one is written at once. */
  private readonly readySockets = new WeakSet<Socket>();

  constructor(private readonly kc: KubeConfig, private readonly options: RestClientOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.bucket = new TokenBucket({ ratePerSec: options.qps ?? 50, burst: options.burst ?? 100 });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.agent = this.server.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /** A JSON request; resolves to the parsed body, rejects with KubeApiError on a non-2xx answer. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { res, text } = await this.answer(method, path, options);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toApiError(status, text, method, path);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A GET whose answer is text, not JSON (a Pod's /metrics through the API server's proxy); rejects as request does. */
  async getText(path: string): Promise<string> {
    const { res, text } = await this.answer('GET', path, {});
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toApiError(status, text, 'GET', path);
    return text;
  }

  /**
   * A watch stream: calls `onEvent` for each event line until the server ends the stream (resolves),
   * the connection fails (rejects) or `signal` aborts (resolves). A non-200 answer rejects with
   * KubeApiError before any event.
   */
  async watch(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    // No request timeout: the server ends the watch after timeoutSeconds and the informer's watchdog
    // handles a stream that goes silent.
    const res = await this.open('GET', path, { query: { ...query, watch: 1 }, signal }, 0);
    const status = res.statusCode ?? 0;
    this.options.metrics?.apiRequests.inc({ verb: 'WATCH', resource: resourceOfPath(path), code: String(status) });
    if (status !== 200) throw toApiError(status, await readBody(res), 'WATCH', path);
    await new Promise<void>((resolveDone, rejectDone) => {
      let buffer = '';
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        res.destroy();
        rejectDone(err);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line) as WatchEvent;
          } catch {
            fail(new Error(`WATCH ${path}: undecodable event line: ${line.slice(0, 200)}`));
            return;
          }
          onEvent(event);
        }
      });
      res.on('end', () => { if (!failed) resolveDone(); });
      res.on('error', (err) => (signal.aborted ? resolveDone() : fail(err)));
      res.on('aborted', () => (signal.aborted ? resolveDone() : fail(new Error(`WATCH ${path}: connection aborted`))));
      res.on('close', () => { if (!failed) (signal.aborted || res.complete ? resolveDone() : fail(new Error(`WATCH ${path}: connection closed mid-stream`))); });
    });
  }

  /**
   * Sends a request and reads its whole answer, counting it by its status code, or as code `none` when no
   * answer came (the timeout, a connection refused or reset): an informer whose LIST the apiserver cannot
   * answer in time shows there, not as silence.
   */
  private async answer(method: string, path: string, options: RequestOptions): Promise<{ res: http.IncomingMessage; text: string }> {
    const count = (code: string) => this.options.metrics?.apiRequests.inc({ verb: verbOfRequest(method, path), resource: resourceOfPath(path), code });
    let refusedBeforeSend = false;
    const beforeSend = options.beforeSend;
    const checked = beforeSend ? { ...options, beforeSend: () => { try { beforeSend(); } catch (err) { refusedBeforeSend = true; throw err; } } } : options;
    try {
      const res = await this.open(method, path, checked, options.timeoutMs ?? this.timeoutMs);
      const text = await readBody(res);
      count(String(res.statusCode));
      return { res, text };
    } catch (err) {
      // A request its own check refused never reached the server: not a request at all.
      if (!refusedBeforeSend) count('none');
      throw err;
    }
  }

  private async open(method: string, path: string, options: RequestOptions, timeoutMs: number): Promise<http.IncomingMessage> {
    await this.bucket.acquire();
    const url = new URL(this.server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    // Credentials are applied per request: exec/OIDC tokens can rotate.
    const auth: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = {
      ...(auth.headers as Record<string, string> | undefined),
      accept: 'application/json',
      'user-agent': this.options.userAgent ?? 'chrysalis-operator',
    };
    if (body) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = body.length;
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolveRes, rejectRes) => {
      const req = lib.request(url, {
        method, headers, agent: this.agent, ca: auth.ca, cert: auth.cert, key: auth.key,
        rejectUnauthorized: auth.rejectUnauthorized, servername: auth.servername, auth: auth.auth,
        signal: options.signal,
      }, resolveRes);
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', rejectRes);
      // Nothing is written until the socket is ready, so beforeSend runs in the same tick as the write:
      // a process paused in between (SIGSTOP, a long GC) sends nothing it checked before the pause.
      req.once('socket', (socket: Socket) => this.whenReady(socket, () => {
        try {
          options.beforeSend?.();
        } catch (err) {
          rejectRes(err);
          req.destroy();
          return;
        }
        req.end(body);
      }));
    });
  }

  /** Calls `then` once the socket is connected and, for TLS, handshaken (at once for a kept-alive one). */
  private whenReady(socket: Socket, then: () => void): void {
    if (this.readySockets.has(socket)) return then();
    const tlsSocket = socket instanceof TLSSocket;
    if (!tlsSocket && !socket.connecting) {
      this.readySockets.add(socket);
      return then();
    }
    // Every socket this client's agent makes is first seen here, before any I/O could finish connecting it.
    socket.once(tlsSocket ? 'secureConnect' : 'connect', () => {
      this.readySockets.add(socket);
      then();
    });
  }

  /** Closes idle keep-alive connections (the process can then exit without waiting for them). */
  close(): void {
    this.agent.destroy();
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolveBody, rejectBody) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    res.on('error', rejectBody);
  });
}

function toApiError(code: number, text: string, method: string, path: string): KubeApiError {
  let reason = 'Unknown';
  let message = text.slice(0, 500);
  try {
    const status = JSON.parse(text) as { reason?: string; message?: string };
    reason = status.reason ?? reason;
    message = status.message ?? message;
  } catch {
    // Not a metav1.Status (a proxy's HTML error page, say): keep the raw text as the message.
  }
  return new KubeApiError(code, reason, message, method, path);
}
