// One bounded GET against a collateral endpoint (an Intel PCS or PCCS, an AMD KDS or a mirror): a time
// limit, a size limit and an optional CA bundle for a PCCS with its own certificate. What comes back is
// bytes and headers, nothing more: the verifier judges them as it judges collateral carried in evidence.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

export interface HttpGetOptions {
  timeoutMs: number;
  /** Collateral is small (a TCB info is about 10 KiB, a CRL a few KiB); anything larger is refused. */
  maxBytes: number;
  /** PEM CA bundle trusted for an https:// endpoint instead of the system's. */
  ca?: string;
  /** Sent as a POST with this body and content type instead of a GET (an OCSP request). */
  post?: { body: Uint8Array; contentType: string };
}

export type HttpGet = (url: URL, options: HttpGetOptions) => Promise<HttpResponse>;

export class CollateralFetchError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'CollateralFetchError';
  }
}

export const httpGet: HttpGet = (url, options) =>
  new Promise((resolve, reject) => {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      reject(new CollateralFetchError(`${url.protocol} is not http: or https:`));
      return;
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const method = options.post ? 'POST' : 'GET';
    const headers = options.post ? { 'content-type': options.post.contentType, 'content-length': String(options.post.body.length) } : undefined;
    const req = send(url, { method, timeout: options.timeoutMs, ...(headers ? { headers } : {}), ...(options.ca && url.protocol === 'https:' ? { ca: options.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          req.destroy(new CollateralFetchError(`the answer from ${url.origin}${url.pathname} exceeds ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new CollateralFetchError(`no answer from ${url.origin}${url.pathname} within ${options.timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof CollateralFetchError ? err : new CollateralFetchError(`${method} ${url.origin}${url.pathname}: ${err.message}`)));
    req.end(options.post ? Buffer.from(options.post.body) : undefined);
  });
