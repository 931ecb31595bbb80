// AMD's Key Distribution Service interface (AMD "VCEK Certificate and KDS Interface Specification"), as
// kdsintf.amd.com serves it and a KDS-compatible cache mirrors it:
//   GET /vcek/v1/{Milan|Genoa|Turin}/{hwid hex}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…   (Turin adds fmcSPL;
//       its hwid is the first 8 bytes of the chip id) → the VCEK, DER
//   GET /vcek/v1/{Milan|Genoa|Turin}/crl → the CRL the product's ARK signs (DER)
// This file only fetches; whether the certificate is genuine and belongs to the report is decided by
// its chain to the pinned ARK and its extensions.
import type { Generation, SnpTcb } from '../sev-snp/tcb.js';
import { baseUrlOf, CollateralFetchError, httpGet, type HttpGet } from './http-get.js';

export interface AmdKdsOptions {
  /** e.g. https://kdsintf.amd.com (any path prefix is kept). */
  baseUrl: string;
  timeoutMs?: number;
  ca?: string;
  get?: HttpGet;
}

/** A VCEK is about 1.3 KiB; AMD's CRLs about 1 KiB, more with many entries. */
const MAX_VCEK_BYTES = 64 * 1024;
const MAX_CRL_BYTES = 1024 * 1024;

export class AmdKdsClient {
  private readonly base: URL;
  private readonly get: HttpGet;

  constructor(private readonly options: AmdKdsOptions) {
    this.base = baseUrlOf(options.baseUrl);
    this.get = options.get ?? httpGet;
  }

  /** The path a VCEK is asked at (also the cache's key). */
  static vcekPath(product: Generation, hwId: string, tcb: SnpTcb): string {
    const query = new URLSearchParams();
    if (product === 'Turin') query.set('fmcSPL', String(tcb.fmc ?? 0));
    query.set('blSPL', String(tcb.bootloader));
    query.set('teeSPL', String(tcb.tee));
    query.set('snpSPL', String(tcb.snp));
    query.set('ucodeSPL', String(tcb.microcode));
    return `vcek/v1/${product}/${hwId}?${query.toString()}`;
  }

  /** The path of a product's ARK-signed CRL (also the cache's key). */
  static crlPath(product: Generation): string {
    return `vcek/v1/${product}/crl`;
  }

  async crl(product: Generation): Promise<Uint8Array> {
    const url = new URL(AmdKdsClient.crlPath(product), this.base);
    const res = await this.get(url, { timeoutMs: this.options.timeoutMs ?? 10_000, maxBytes: MAX_CRL_BYTES, ...(this.options.ca ? { ca: this.options.ca } : {}) });
    if (res.status !== 200) throw new CollateralFetchError(`CRL: ${url.origin}${url.pathname} answered ${res.status}`, res.status);
    if (res.body[0] !== 0x30) throw new CollateralFetchError('CRL: the answer is not a DER CRL');
    return res.body;
  }

  async vcek(product: Generation, hwId: string, tcb: SnpTcb): Promise<Uint8Array> {
    const url = new URL(AmdKdsClient.vcekPath(product, hwId, tcb), this.base);
    const res = await this.get(url, { timeoutMs: this.options.timeoutMs ?? 10_000, maxBytes: MAX_VCEK_BYTES, ...(this.options.ca ? { ca: this.options.ca } : {}) });
    if (res.status !== 200) throw new CollateralFetchError(`VCEK: ${url.origin}${url.pathname} answered ${res.status}`, res.status);
    if (res.body[0] !== 0x30) throw new CollateralFetchError('VCEK: the answer is not a DER certificate');
    return res.body;
  }
}
