// The attestation service over HTTPS: body size limit, JSON parsing, and the TLS certificate — from files
// (the chart mounts a Secret) or, for development, a self-signed one made in memory at start.
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { MAX_REQUEST_BYTES } from './protocol.js';
import type { AttestationService } from './service.js';

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

export function startHttpsServer(service: AttestationService, tls: TlsMaterial, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const reply = (status: number, body: unknown) => {
      // A body that cannot be serialized is this server's bug: answer 500, never crash the operator.
      let text: string;
      try {
        text = JSON.stringify(body);
      } catch {
        [status, text] = [500, JSON.stringify({ error: 'internal error' })];
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    };
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { ok: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        tooLarge = true;
        reply(413, { error: `request body exceeds ${MAX_REQUEST_BYTES} bytes` });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { error: 'request body is not valid JSON' });
      }
      const path = (req.url ?? '/').split('?')[0]!;
      service.handle(req.method ?? 'GET', path, req.headers, body).then(
        (r) => reply(r.status, r.body),
        () => reply(500, { error: 'internal error' }),
      );
    });
  });
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveServer(server));
  });
}
