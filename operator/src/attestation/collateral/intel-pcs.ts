// Intel's provisioning certification API (version 4), as Intel's PCS serves it and a PCCS caches it:
//   GET /tdx/certification/v4/tcb?fmspc=<12 hex>          TDX TCB info; issuer chain in TCB-Info-Issuer-Chain
//   GET /tdx/certification/v4/qe/identity                 TD_QE identity; in SGX-Enclave-Identity-Issuer-Chain
//   GET /sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der   the PCK CA's CRL
//   GET /sgx/certification/v4/rootcacrl                   the Intel SGX Root CA CRL (a PCCS; Intel's PCS
//                                                         publishes it elsewhere: rootCrlUrl)
// Issuer chains come URL-encoded (PEM) in a header. CRLs may come as DER, PEM or hex text (older PCCS
// versions). This file only fetches and decodes; whether the bytes are genuine is decided by signature.
import { decodeUtf8Strict } from '../../util/strict-utf8.js';
import { decodeCertificates, pemBlocks } from '../evidence-input.js';
import { CollateralEndpoint, type EndpointOptions } from './endpoint.js';
import { CollateralFetchError } from './http-get.js';

export type PckCa = 'platform' | 'processor';

export interface SignedJsonAnswer {
  /** The body exactly as served (UTF-8): the signature covers part of this very text. */
  text: string;
  /** DER certificates from the issuer-chain header (empty when the header is absent). */
  issuerChain: Uint8Array[];
}

/** Where the PCS or PCCS is (e.g. https://pccs.example:8081 or https://api.trustedservices.intel.com) and how to reach it. */
export interface IntelPcsOptions extends EndpointOptions {
  /** Where the root CA CRL is; default <baseUrl>/sgx/certification/v4/rootcacrl (a PCCS). */
  rootCrlUrl?: string;
}

/** Collateral answers are a few KiB; a TCB info with many levels stays far below this. */
const MAX_COLLATERAL_BYTES = 1024 * 1024;
const TCB_INFO_CHAIN_HEADERS = ['tcb-info-issuer-chain', 'sgx-tcb-info-issuer-chain'];
const QE_IDENTITY_CHAIN_HEADERS = ['sgx-enclave-identity-issuer-chain', 'enclave-identity-issuer-chain'];

function utf8(bytes: Uint8Array, what: string): string {
  const text = decodeUtf8Strict(bytes, { keepBom: false });
  if (text === undefined) throw new CollateralFetchError(`${what} is not UTF-8 text`);
  return text;
}

/** A CRL answer as DER: DER as is, a PEM "X509 CRL" block, or hex text. */
export function crlDer(body: Uint8Array, what: string): Uint8Array {
  if (body[0] === 0x30) return body;
  const text = utf8(body, what).trim();
  if (text.includes('-----BEGIN')) {
    const block = pemBlocks(text).find((b) => b.label === 'X509 CRL');
    if (!block) throw new CollateralFetchError(`${what} is PEM without an X509 CRL block`);
    return block.der;
  }
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  throw new CollateralFetchError(`${what} is neither DER, PEM nor hex`);
}

export class IntelPcsClient extends CollateralEndpoint {
  constructor(private readonly options: IntelPcsOptions) {
    super(options);
  }

  private url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  private async signedJson(url: URL, what: string, chainHeaders: string[]): Promise<SignedJsonAnswer> {
    const res = await this.fetchOk(url, what, MAX_COLLATERAL_BYTES);
    const header = chainHeaders.map((h) => res.headers[h]).find((v) => typeof v === 'string');
    let issuerChain: Uint8Array[] = [];
    if (typeof header === 'string' && header !== '') {
      try {
        issuerChain = decodeCertificates(decodeURIComponent(header), `${what} issuer chain`);
      } catch (err) {
        throw new CollateralFetchError(`${what}: the issuer-chain header is not a URL-encoded PEM chain (${(err as Error).message})`);
      }
    }
    return { text: utf8(res.body, what), issuerChain };
  }

  tdxTcbInfo(fmspc: string): Promise<SignedJsonAnswer> {
    if (!/^[0-9a-f]{12}$/.test(fmspc)) return Promise.reject(new CollateralFetchError(`FMSPC ${JSON.stringify(fmspc)} is not 6 bytes of lowercase hex`));
    return this.signedJson(this.url('tdx/certification/v4/tcb', { fmspc }), `TDX TCB info for FMSPC ${fmspc}`, TCB_INFO_CHAIN_HEADERS);
  }

  tdQeIdentity(): Promise<SignedJsonAnswer> {
    return this.signedJson(this.url('tdx/certification/v4/qe/identity'), 'TD_QE identity', QE_IDENTITY_CHAIN_HEADERS);
  }

  async pckCrl(ca: PckCa): Promise<Uint8Array> {
    const res = await this.fetchOk(this.url('sgx/certification/v4/pckcrl', { ca, encoding: 'der' }), `PCK ${ca} CA CRL`, MAX_COLLATERAL_BYTES);
    return crlDer(res.body, `PCK ${ca} CA CRL`);
  }

  async rootCrl(): Promise<Uint8Array> {
    const url = this.options.rootCrlUrl ? new URL(this.options.rootCrlUrl) : this.url('sgx/certification/v4/rootcacrl');
    const res = await this.fetchOk(url, 'Intel SGX Root CA CRL', MAX_COLLATERAL_BYTES);
    return crlDer(res.body, 'Intel SGX Root CA CRL');
  }
}
