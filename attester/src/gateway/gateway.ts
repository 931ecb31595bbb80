// The replica's RA-TLS endpoint (replica mode of the attester sidecar): a TLS 1.3 server on the Pod's
// `https` port whose certificate key is the attested identity key and whose certificate carries the
// replica's evidence (ra-tls-certificate.ts). It answers client-nonce evidence challenges
// (evidence-endpoint.ts) and forwards everything else to the inference server on loopback (proxy.ts),
// metering what passes. A client that verified the certificate's evidence and a fresh answer to its own
// nonce knows the peer of this TLS connection is the TEE the evidence describes (cli/src/client/).
//
// Certificates are short-lived: one is made at start (no TLS is served before it exists) and a new one
// every validity/2 (the policy's evidence age limit applies to the client-nonce answers, not to it). A failed
// renewal keeps serving the current certificate (clients refuse it once expired: fail closed) and is
// retried after RENEW_RETRY_MS.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import type { EvidenceBundle } from '../../../operator/src/attestation/bundle.js';
import { silentLogger } from '../../../operator/src/util/log.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy, type Sleep } from '../backoff.js';
import type { AttesterIdentity } from '../identity.js';
import { WELL_KNOWN_PREFIX, evidenceHandler, type EvidenceMaker } from './evidence-endpoint.js';
import { proxyHandler } from './proxy.js';
import { buildRaTlsCertificate, MAX_RA_TLS_CERTIFICATE_BYTES, raTlsNonce } from './ra-tls-certificate.js';
import type { UsageHooks } from './usage-hooks.js';

/** Default certificate lifetime: a new one every five minutes, each valid for ten. */
export const DEFAULT_CERTIFICATE_VALIDITY_MS = 10 * 60_000;
/**
 * notBefore is set this far before the moment the evidence is made, so a client whose clock is behind
 * the replica's by up to this much does not see a certificate from the future. Evidence age (measured
 * from notBefore) reads this much older than it is.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 60_000;
const RENEW_RETRY_MS = 30_000;

export interface RaTlsGatewayOptions {
  identity: AttesterIdentity;
  /** Evidence over a 32-byte nonce, bound to `identity` (Attester.buildEvidence). */
  makeEvidence: EvidenceMaker;
  upstreamPort: number;
  /** The inference server listens on loopback only; default 127.0.0.1. */
  upstreamHost?: string;
  usage: UsageHooks;
  validityMs?: number;
  maxRequestBytes?: number;
  /**
   * Retry of transient evidence failures (AttesterError.transient, e.g. a configfs-tsm entry raced by the
   * attestation loop, which asks the same TSM and GPUs): default 4 tries from 0.5 s.
   */
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  now?: () => number;
  logger?: Logger;
}

export interface ServedCertificate {
  der: Uint8Array;
  pem: string;
  notBefore: Date;
  notAfter: Date;
}

export class RaTlsGateway {
  readonly #options: RaTlsGatewayOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #validityMs: number;
  readonly #makeEvidence: EvidenceMaker;
  #server: Server | undefined;
  #certificate: ServedCertificate | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RaTlsGatewayOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger();
    this.#now = options.now ?? Date.now;
    this.#validityMs = options.validityMs ?? DEFAULT_CERTIFICATE_VALIDITY_MS;
    const retry: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: 4, ...options.retry };
    this.#makeEvidence = (nonce) => withRetry(() => options.makeEvidence(nonce), retry, options.sleep ? { sleep: options.sleep } : {});
    if (!Number.isInteger(options.upstreamPort) || options.upstreamPort < 1 || options.upstreamPort > 65535) {
      throw new Error(`the inference server port must be 1..65535, got ${options.upstreamPort}`);
    }
    if (this.#validityMs < 2 * CLOCK_SKEW_ALLOWANCE_MS) throw new Error(`the RA-TLS certificate validity must be at least ${(2 * CLOCK_SKEW_ALLOWANCE_MS) / 1000} s`);
  }

  /** The certificate being served (undefined before the first one was made). */
  get certificate(): ServedCertificate | undefined {
    return this.#certificate;
  }

  /** Makes fresh evidence and a certificate carrying it, and serves it to new connections from now on. */
  async renewCertificate(): Promise<ServedCertificate> {
    const identity = this.#options.identity;
    const notBefore = new Date(Math.floor((this.#now() - CLOCK_SKEW_ALLOWANCE_MS) / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + this.#validityMs);
    const evidence: EvidenceBundle = await this.#makeEvidence(raTlsNonce(notBefore));
    const build = (bundle: EvidenceBundle) => buildRaTlsCertificate({ publicKey: identity.publicKey, sign: (tbs) => identity.sign(tbs), evidence: bundle, notBefore, notAfter });
    let { der, pem } = build(evidence);
    if (der.length > MAX_RA_TLS_CERTIFICATE_BYTES && evidence.gpus.length > 0) {
      this.#log.info('GPU reports left out of the RA-TLS certificate: clients receive them in the answer to their nonce', { withGpus: der.length, limit: MAX_RA_TLS_CERTIFICATE_BYTES, gpus: evidence.gpus.length });
      ({ der, pem } = build({ ...evidence, gpus: [] }));
    }
    if (der.length > MAX_RA_TLS_CERTIFICATE_BYTES) throw new Error(`the RA-TLS certificate is ${der.length} bytes even without GPU reports; TLS clients refuse more than ${MAX_RA_TLS_CERTIFICATE_BYTES}`);
    const certificate = { der, pem, notBefore, notAfter };
    this.#certificate = certificate;
    this.#server?.setSecureContext(this.#secureContextOptions(certificate));
    this.#log.info('RA-TLS certificate issued', { notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), publicKey: identity.publicKeyHex });
    return certificate;
  }

  #secureContextOptions(certificate: ServedCertificate) {
    return { key: this.#options.identity.tlsPrivateKeyPem(), cert: certificate.pem, minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const };
  }

  /** Issues the first certificate, then listens; renews in the background until close(). */
  /** Without `host`, every address of the Pod (IPv6 and IPv4 where the kernel has IPv6, as node:net decides). */
  async listen(port: number, host?: string): Promise<AddressInfo> {
    const certificate = this.#certificate ?? (await this.renewCertificate());
    const answerEvidence = evidenceHandler(this.#makeEvidence, this.#log);
    const forward = proxyHandler({
      upstreamHost: this.#options.upstreamHost ?? '127.0.0.1',
      upstreamPort: this.#options.upstreamPort,
      usage: this.#options.usage,
      ...(this.#options.maxRequestBytes !== undefined ? { maxRequestBytes: this.#options.maxRequestBytes } : {}),
      logger: this.#log,
    });
    const server = createServer({ ...this.#secureContextOptions(certificate), ALPNProtocols: ['http/1.1'] }, (req, res) => {
      const handle = (req.url ?? '/').startsWith(WELL_KNOWN_PREFIX) ? answerEvidence : forward;
      handle(req, res).catch((err: unknown) => {
        this.#log.error('request failed', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    // A client verifies once and may then send several requests on the connection; an idle minute between
    // them should not cost it a new handshake and verification (node's default is 5 s).
    server.keepAliveTimeout = 60_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const listening = () => {
        server.off('error', reject);
        resolve();
      };
      if (host === undefined) server.listen(port, listening);
      else server.listen(port, host, listening);
    });
    this.#schedule(this.#validityMs / 2);
    const address = server.address() as AddressInfo;
    this.#log.info('RA-TLS endpoint listening', { port: address.port, upstreamPort: this.#options.upstreamPort });
    return address;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#renewTimer = setTimeout(() => {
      this.renewCertificate().then(
        () => this.#schedule(this.#validityMs / 2),
        (err: unknown) => {
          this.#log.error('RA-TLS certificate renewal failed; serving the current one until it expires', { error: err instanceof Error ? err.message : String(err), retryInMs: RENEW_RETRY_MS });
          this.#schedule(RENEW_RETRY_MS);
        },
      );
    }, ms);
    this.#renewTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
