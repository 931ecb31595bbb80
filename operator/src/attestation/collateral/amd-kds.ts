// AMD's Key Distribution Service interface (AMD "VCEK Certificate and KDS Interface Specification"), as
// kdsintf.amd.com serves it and a KDS-compatible cache mirrors it:
//   GET /vcek/v1/{Milan|Genoa|Turin}/{hwid hex}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…   (Turin adds fmcSPL;
//       its hwid is the first 8 bytes of the chip id) → the VCEK, DER
//   GET /vcek/v1/{Milan|Genoa|Turin}/crl → the CRL the product's ARK signs (DER)
// This file only fetches; whether the certificate is genuine and belongs to the report is decided by
// its chain to the pinned ARK and its extensions.
import type { Generation, SnpTcb } from '../sev-snp/tcb.js';
import { CollateralEndpoint, type EndpointOptions } from './endpoint.js';
import { CollateralFetchError } from './http-get.js';

/** Where the KDS is (e.g. https://kdsintf.amd.com) and how to reach it. */
export type AmdKdsOptions = EndpointOptions;

/** A VCEK is about 1.3 KiB; AMD's CRLs about 1 KiB, more with many entries. */
const MAX_VCEK_BYTES = 64 * 1024;
const MAX_CRL_BYTES = 1024 * 1024;

export class AmdKdsClient extends CollateralEndpoint {

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
    const res = await this.fetchOk(new URL(AmdKdsClient.crlPath(product), this.base), 'CRL', MAX_CRL_BYTES);
    if (res.body[0] !== 0x30) throw new CollateralFetchError('CRL: the answer is not a DER CRL');
    return res.body;
  }

  async vcek(product: Generation, hwId: string, tcb: SnpTcb): Promise<Uint8Array> {
    const res = await this.fetchOk(new URL(AmdKdsClient.vcekPath(product, hwId, tcb), this.base), 'VCEK', MAX_VCEK_BYTES);
    if (res.body[0] !== 0x30) throw new CollateralFetchError('VCEK: the answer is not a DER certificate');
    return res.body;
  }
}
