// Test helper: a PCCS on 127.0.0.1 that speaks Intel's v4 provisioning certification API (the paths and
// issuer-chain headers a real PCS/PCCS uses) over HTTPS with a self-signed certificate, serving whatever
// the test puts in `content` at the moment of the request. Every request is recorded, so a test can see
// what the cache fetched and when.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { selfSignedTls } from '../../operator/src/attestation/service/https-server.js';
import { vectorPath } from './vectors.js';

export interface SignedJsonItem {
  body: string;
  /** PEM issuer chain, sent URL-encoded in the header as Intel does; absent: no header. */
  chainPem?: string;
}

export interface PccsContent {
  /** TDX TCB info by lowercase FMSPC. */
  tcbInfo: Record<string, SignedJsonItem>;
  qeIdentity?: SignedJsonItem;
  /** DER CRLs by PCK CA (platform, processor). */
  pckCrl: Partial<Record<'platform' | 'processor', Uint8Array>>;
  rootCrl?: Uint8Array;
}

export interface Pccs {
  url: string;
  /** The server's certificate (PEM): the CA a client must trust. */
  ca: string;
  content: PccsContent;
  /** "GET <path>?<query>" of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** The real collateral of quote_v5_sample / tdx_quote_5 (FMSPC 90c06f000000) and the v4 quotes (50806f000000), from attestation-rs (2026-03). */
export function vectorCollateral(): PccsContent {
  const read = (file: string) => readFileSync(vectorPath('tdx', `attestation-rs/${file}`));
  const chainPem = read('tcb_signing_chain.pem').toString('utf8');
  return {
    tcbInfo: {
      '90c06f000000': { body: read('tcb_info_90c06f000000.json').toString('utf8'), chainPem },
      '50806f000000': { body: read('tcb_info_50806f000000.json').toString('utf8'), chainPem },
    },
    qeIdentity: { body: read('td_qe_identity.json').toString('utf8'), chainPem },
    pckCrl: { platform: new Uint8Array(read('pck_crl_platform.der')) },
    rootCrl: new Uint8Array(read('root_ca_crl.der')),
  };
}

export async function startPccs(content: PccsContent): Promise<Pccs> {
  const tls = await selfSignedTls();
  const requests: string[] = [];
  const state: Pccs = { url: '', ca: tls.cert, content, requests, close: async () => undefined };
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const c = state.content;
    const json = (item: SignedJsonItem | undefined, header: string) => {
      if (!item) return notFound();
      res.writeHead(200, { 'content-type': 'application/json', ...(item.chainPem ? { [header]: encodeURIComponent(item.chainPem) } : {}) });
      res.end(item.body);
    };
    const der = (bytes: Uint8Array | undefined) => {
      if (!bytes) return notFound();
      res.writeHead(200, { 'content-type': 'application/pkix-crl' });
      res.end(Buffer.from(bytes));
    };
    const notFound = () => {
      res.writeHead(404);
      res.end();
    };
    if (req.method !== 'GET') return notFound();
    switch (url.pathname) {
      case '/tdx/certification/v4/tcb':
        return json(c.tcbInfo[url.searchParams.get('fmspc') ?? ''], 'TCB-Info-Issuer-Chain');
      case '/tdx/certification/v4/qe/identity':
        return json(c.qeIdentity, 'SGX-Enclave-Identity-Issuer-Chain');
      case '/sgx/certification/v4/pckcrl': {
        const ca = url.searchParams.get('ca');
        return der(ca === 'platform' || ca === 'processor' ? c.pckCrl[ca] : undefined);
      }
      case '/sgx/certification/v4/rootcacrl':
        return der(c.rootCrl);
      default:
        return notFound();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  return state;
}
