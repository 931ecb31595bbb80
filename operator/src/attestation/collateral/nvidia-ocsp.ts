// NVIDIA's OCSP service (https://ocsp.ndis.nvidia.com, or a mirror that relays it): one POST of a DER
// OCSPRequest (application/ocsp-request) per certificate, with a SHA-384 CertID as NVIDIA's verifier sends
// and a fresh 32-byte nonce. The answer must be a successful basic response; when it echoes a nonce, the
// nonce must be this request's (a mirror that caches responses may echo none: freshness then rests on the
// response's thisUpdate/nextUpdate, which the verifier judges). Whether the response is genuine is decided
// by ocsp.ts against the certificate's issuer, never here.
import { randomBytes } from 'node:crypto';
import { bytesEqual } from '../bytes.js';
import { buildOcspRequest, certIdFor, parseOcspResponse, type ParsedOcspResponse } from '../ocsp.js';
import type { ParsedCertificate } from '../x509.js';
import { CollateralFetchError, httpGet, type HttpGet } from './http-get.js';

export interface NvidiaOcspOptions {
  /** e.g. https://ocsp.ndis.nvidia.com (the request is POSTed to this URL as it is). */
  url: string;
  timeoutMs?: number;
  ca?: string;
  get?: HttpGet;
  /** Nonce source (tests pin it). */
  nonce?: () => Uint8Array;
}

/** NVIDIA's responses are about 2 KiB with the responder certificate. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export class NvidiaOcspClient {
  private readonly get: HttpGet;

  constructor(private readonly options: NvidiaOcspOptions) {
    this.get = options.get ?? httpGet;
  }

  async status(cert: ParsedCertificate, issuer: ParsedCertificate): Promise<{ der: Uint8Array; parsed: ParsedOcspResponse }> {
    const nonce = (this.options.nonce ?? (() => new Uint8Array(randomBytes(32))))();
    const body = buildOcspRequest([certIdFor(cert, issuer, 'sha384')], nonce);
    const url = new URL(this.options.url);
    const res = await this.get(url, {
      timeoutMs: this.options.timeoutMs ?? 10_000,
      maxBytes: MAX_RESPONSE_BYTES,
      post: { body, contentType: 'application/ocsp-request' },
      ...(this.options.ca ? { ca: this.options.ca } : {}),
    });
    if (res.status !== 200) throw new CollateralFetchError(`OCSP: ${url.origin}${url.pathname} answered ${res.status}`, res.status);
    let parsed: ParsedOcspResponse;
    try {
      parsed = parseOcspResponse(res.body);
    } catch (err) {
      throw new CollateralFetchError(`OCSP: ${(err as Error).message}`);
    }
    if (parsed.nonce && !bytesEqual(parsed.nonce, nonce)) throw new CollateralFetchError('OCSP: the response echoes another nonce than the request\'s (a replayed answer)');
    return { der: res.body, parsed };
  }
}
