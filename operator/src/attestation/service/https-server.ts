// The attestation service over HTTPS: the order of checks, per-endpoint body limits, JSON parsing, and the TLS certificate — from files
// (the chart mounts a Secret) or, for development, a self-signed one made in memory at start.
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { IncomingMessage } from 'node:http';
import { MAX_BODY_BYTES } from './protocol.js';
import type { AttestationService, ServiceResponse } from './service.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

export function tlsFromFiles(certFile: string, keyFile: string): TlsMaterial {
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** A self-signed P-256 certificate for 127.0.0.1/localhost and the given DNS names (development only). */
export async function selfSignedTls(dnsNames: string[] = []): Promise<TlsMaterial> {
  x509.cryptoProvider.set(webcrypto as never);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=chrysalis-attestation', notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * 86_400_000),
    keys: keys as never, signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }, ...dnsNames.map((d) => ({ type: 'dns' as const, value: d }))])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n` };
}

/** Slow clients may not hold a connection open: headers within 10 s, the whole request within 30 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Serves the attestation service. The order is what keeps an unauthenticated client cheap: route and
 * declared size first, then who is calling (a cached TokenReview, bounded for all callers together, and
 * the caller's own request bucket) from the headers alone, and only then the body, up to the endpoint's
 * limit. A request refused before its body is read closes the connection instead of draining it, unless
 * the refusal only asks it to come back later (comeBackLater).
 */
export function startHttpsServer(service: AttestationService, tls: TlsMaterial, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer({ cert: tls.cert, key: tls.key, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    let bodyRead = false;
    // Whether the request declared a length (not chunked) and the endpoint's limit admitted it: only then
    // may a refusal leave the body for Node to read and keep the connection (comeBackLater).
    let lengthAdmitted = false;
    const reply = ({ status, body, headers }: ServiceResponse) => {
      if (res.headersSent) return;
      // A body that cannot be serialized is this server's bug: answer 500, never crash the operator.
      let text: string;
      try {
        text = JSON.stringify(body);
      } catch {
        [status, text] = [500, JSON.stringify({ error: 'internal error' })];
      }
      const keep = bodyRead || (lengthAdmitted && comeBackLater(status));
      res.writeHead(status, { 'content-type': 'application/json', ...(headers ?? {}), ...(keep ? {} : { connection: 'close' }) });
      res.end(text);
      // Kept, Node reads what is left of the body (no more than its declared length) before the next request.
      if (!keep) res.once('finish', () => req.destroy());
    };
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/healthz') {
      bodyRead = true;
      return reply({ status: 200, body: { ok: true } });
    }
    const refused = service.route(method, path);
    if (refused) return reply(refused);
    const limit = MAX_BODY_BYTES[path as keyof typeof MAX_BODY_BYTES];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!Number.isFinite(declared) || declared > limit) return reply({ status: 413, body: { error: `request body exceeds ${limit} bytes for ${path}` } });
    lengthAdmitted = req.headers['content-length'] !== undefined && req.headers['transfer-encoding'] === undefined;
    service.authenticate(req.headers).then(
      async (caller) => {
        let raw: Buffer;
        try {
          raw = await readBody(req, limit);
        } catch {
          return reply({ status: 413, body: { error: `request body exceeds ${limit} bytes for ${path}` } });
        }
        bodyRead = true;
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return reply({ status: 400, body: { error: 'request body is not valid JSON' } });
        }
        reply(await service.serve(path, caller, body));
      },
      (err) => reply(service.errorResponse(err, path)),
    ).catch(() => reply({ status: 500, body: { error: 'internal error' } }));
  });
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveServer(server));
  });
}

/**
 * Whether a refusal sent before the body was read may keep the connection, given that the request
 * declared a length the endpoint's limit admitted: a "come back later" (429 for load, 503 when the
 * apiserver cannot answer the TokenReview). Its caller will be back, and closing made each return cost it
 * and this server a new TCP connection and TLS handshake: while kube-apiserver restarts, every attester
 * whose token is not in the review cache retries that way (docs/BENCHMARKS.md, "Faults at fleet scale").
 * Every other refusal (a bad token, a body too large, a chunked body of unknown length) still closes, so
 * a caller the service has not identified is never read from beyond the declared length it admitted.
 */
function comeBackLater(status: number): boolean {
  return status === 429 || status === 503;
}

/** The body, or a rejection as soon as it grows past `limit` bytes (a chunked body declares no length). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new Error('too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
