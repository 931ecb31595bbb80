// A TLS connection to a replica that the client has verified before it may carry a request. Opening
// one: TLS 1.3 handshake (the peer proves it holds its certificate's key), the RA-TLS certificate and its
// evidence checked against the AttestationPolicy, then GET /.well-known/chrysalis/evidence with a nonce the
// client drew, on the same connection, and that answer checked too (verify-replica.ts). Only a connection
// that passed is returned, and requests then go over exactly that socket: when it closes no other
// connection is opened behind the caller's back, so a prompt never reaches a peer that was not verified.
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type ClientRequestArgs, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { EVIDENCE_PATH } from '../../../attester/src/gateway/evidence-endpoint.js';
import { checkCertificate, checkFreshEvidence, type ReplicaCheckOptions, type ReplicaVerdict } from './verify-replica.js';

/** The most an evidence answer may be (a bundle with 16 GPUs is under 200 KiB). */
const MAX_EVIDENCE_ANSWER_BYTES = 1024 * 1024;

/** The replica's evidence did not verify: nothing was sent to it. `code` is the first reason's. */
export class ReplicaRefused extends Error {
  readonly code: string;
  constructor(readonly verdict: ReplicaVerdict) {
    super(`replica refused: ${verdict.reasons.map((r) => `${r.code}: ${r.message}`).join('; ')}`);
    this.code = verdict.reasons[0]?.code ?? 'MALFORMED_EVIDENCE';
  }
}

/** The replica could not be reached or did not speak TLS 1.3 / HTTP (not a verdict about its evidence). */
export class ReplicaUnreachable extends Error {
  readonly code = 'REPLICA_UNREACHABLE';
}

export interface AttestedConnectOptions extends Omit<ReplicaCheckOptions, 'now'> {
  host: string;
  port: number;
  /** Handshake and evidence answer, each (default 30 s: real TEEs and GPUs take seconds to report). */
  timeoutMs?: number;
  now?: () => Date;
  /** The client's 32-byte nonce (default: crypto random). */
  drawNonce?: () => Uint8Array;
}

/** An http.Agent that only ever hands out the one verified socket, and refuses once it is gone. */
class VerifiedSocketAgent extends Agent {
  #handedOut = false;
  constructor(private readonly socket: TLSSocket) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  }
  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    if (this.#handedOut || this.socket.destroyed) {
      // node:http takes an error through the callback; the stream argument is unused then.
      callback?.(new ReplicaUnreachable('the verified connection to the replica closed; connect (and verify) again'), undefined as unknown as Duplex);
      return undefined;
    }
    this.#handedOut = true;
    return this.socket;
  }
}

function readAll(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        res.destroy();
        reject(new Error(`the answer exceeds ${limit} bytes`));
      } else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

export class AttestedConnection {
  readonly #agent: VerifiedSocketAgent;
  constructor(
    readonly socket: TLSSocket,
    /** Why the client trusts this peer: the verified claims. */
    readonly verdict: ReplicaVerdict,
    readonly host: string,
    readonly port: number,
  ) {
    this.#agent = new VerifiedSocketAgent(socket);
  }

  /** Sends one HTTP request over the verified connection; resolves with the response as it starts. */
  request(method: string, path: string, body?: Buffer | string, headers: OutgoingHttpHeaders = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      const req = httpRequest({
        agent: this.#agent,
        host: this.host,
        port: this.port,
        method,
        path,
        headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
      });
      req.on('response', resolve);
      req.on('error', (err) => reject(err instanceof ReplicaUnreachable ? err : new ReplicaUnreachable(`request to ${this.host}:${this.port} failed: ${err.message}`)));
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
    this.socket.destroy();
  }
}

function handshake(options: AttestedConnectOptions, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: options.host,
      port: options.port,
      ...(isIP(options.host) ? {} : { servername: options.host }),
      // No CA can vouch for a replica: its certificate is self-issued by its attested key, and what makes
      // it trusted is the evidence inside, checked below. The handshake still proves key possession.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ReplicaUnreachable(`no TLS handshake with ${options.host}:${options.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new ReplicaUnreachable(`cannot open TLS 1.3 to ${options.host}:${options.port}: ${err.message}`));
    });
  });
}

/**
 * Connects to the replica at host:port and verifies it (see the header). Resolves only with a verified
 * connection; throws ReplicaRefused (with the verdict) when its evidence does not verify and
 * ReplicaUnreachable when it cannot be asked. Either way nothing but the evidence request was sent.
 */
export async function connectAttested(options: AttestedConnectOptions): Promise<AttestedConnection> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const socket = await handshake(options, timeoutMs);
  const refuse = (verdict: ReplicaVerdict): never => {
    socket.destroy();
    throw new ReplicaRefused(verdict);
  };
  const check: ReplicaCheckOptions = { policy: options.policy, now: now(), ...(options.tdxCollateral ? { tdxCollateral: options.tdxCollateral } : {}) };
  const der = socket.getPeerCertificate(true)?.raw;
  if (!der || der.length === 0) refuse({ verified: false, reasons: [{ code: 'MALFORMED_EVIDENCE', message: 'the replica presented no certificate' }], gpus: [] });
  const { verdict, certificate } = checkCertificate(new Uint8Array(der), check);
  if (!verdict.verified || !certificate) refuse(verdict);

  const connection = new AttestedConnection(socket, verdict, options.host, options.port);
  const nonce = (options.drawNonce ?? (() => new Uint8Array(randomBytes(32))))();
  const issuedAt = now();
  let answer: string;
  try {
    const res = await withTimeout(connection.request('GET', `${EVIDENCE_PATH}?nonce=${Buffer.from(nonce).toString('hex')}`), timeoutMs, options);
    const body = await withTimeout(readAll(res, MAX_EVIDENCE_ANSWER_BYTES), timeoutMs, options);
    if (res.statusCode !== 200) {
      socket.destroy();
      throw new ReplicaUnreachable(`the replica did not answer the client's evidence challenge (HTTP ${res.statusCode}: ${body.toString('utf8').slice(0, 200)})`);
    }
    answer = body.toString('utf8');
  } catch (err) {
    socket.destroy();
    throw err instanceof ReplicaUnreachable ? err : new ReplicaUnreachable(`the evidence challenge to ${options.host}:${options.port} failed: ${(err as Error).message}`);
  }
  const fresh = checkFreshEvidence(answer, nonce, issuedAt, certificate!, { ...check, now: now() });
  if (fresh.reasons.length > 0) refuse({ ...verdict, verified: false, reasons: fresh.reasons, freshEvidence: false });
  // The claims reported are the fresh answer's (with every GPU; the certificate may carry none).
  Object.assign(verdict, fresh.summary, { freshEvidence: true });
  return connection;
}

function withTimeout<T>(promise: Promise<T>, ms: number, where: { host: string; port: number }): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ReplicaUnreachable(`${where.host}:${where.port} did not answer the evidence challenge within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
