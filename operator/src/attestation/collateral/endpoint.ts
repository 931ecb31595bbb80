// Where a collateral service is and how it is asked (an Intel PCS or PCCS, an AMD KDS, or a mirror): its
// base URL, a time limit, an optional CA bundle, and one bounded GET that takes nothing but a 200. The
// AMD KDS and Intel PCS clients are endpoints that know their own paths.
import { CollateralFetchError, httpGet, type HttpGet, type HttpResponse } from './http-get.js';

export interface EndpointOptions {
  /** e.g. https://kdsintf.amd.com or https://pccs.example:8081 (any path prefix is kept). */
  baseUrl: string;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** PEM CA bundle trusted for an https:// endpoint instead of the system's. */
  ca?: string;
  get?: HttpGet;
}

/**
 * A service's base URL as the directory relative paths resolve under: without the trailing '/',
 * new URL('pck/crl', 'https://h/sgx/v4') would drop the base's last segment.
 */
export function baseUrlOf(baseUrl: string): URL {
  return new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
}

export class CollateralEndpoint {
  protected readonly base: URL;
  private readonly http: HttpGet;

  constructor(private readonly endpoint: EndpointOptions) {
    this.base = baseUrlOf(endpoint.baseUrl);
    this.http = endpoint.get ?? httpGet;
  }

  /** Where collateral comes from, for status and logs (no credentials are ever in it). */
  get origin(): string {
    return this.base.origin;
  }

  /** GET `url`, at most `maxBytes`; any answer but 200 is a CollateralFetchError naming `what` and the status. */
  protected async fetchOk(url: URL, what: string, maxBytes: number): Promise<HttpResponse> {
    const res = await this.http(url, { timeoutMs: this.endpoint.timeoutMs ?? 10_000, maxBytes, ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}) });
    if (res.status !== 200) throw new CollateralFetchError(`${what}: ${url.origin}${url.pathname} answered ${res.status}`, res.status);
    return res;
  }
}
