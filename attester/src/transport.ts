// How the attester talks to the attestation service. The Attester only sees the Transport interface, so
// the fleet simulator can run hundreds of attesters in one process against an in-process service, and
// tests can script answers. HttpsTransport is the real one: JSON over HTTPS, the service's CA pinned,
// and the projected ServiceAccount token as a Bearer token (re-read on every request: kubelet rotates it).
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import {
  PATHS,
  type ChallengeRequest,
  type ChallengeResponse,
  type EvidenceRequest,
  type EvidenceResponse,
  type NodeStanding,
  type SignedUsageReport,
  type UsageResponse,
} from '../../operator/src/attestation/service/protocol.js';
import { AttesterError } from './errors.js';

export interface Transport {
  challenge(request: ChallengeRequest, signal?: AbortSignal): Promise<ChallengeResponse>;
  evidence(request: EvidenceRequest, signal?: AbortSignal): Promise<EvidenceResponse>;
  usage(request: SignedUsageReport, signal?: AbortSignal): Promise<UsageResponse>;
  /** The node's standing (quarantine) as the operator sees it; a node attester's GPU gate follows it (gpu/quarantine.ts). */
  standing?(request: ChallengeRequest, signal?: AbortSignal): Promise<NodeStanding>;
}

/** The default path of the projected token (audience chrysalis-attestation) the chart mounts. */
export const DEFAULT_TOKEN_FILE = '/var/run/secrets/chrysalis/token';

/** Reads a token file on each call; a missing or empty file is TOKEN_UNAVAILABLE. */
export function tokenFromFile(path: string): () => Promise<string> {
  return async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new AttesterError('TOKEN_UNAVAILABLE', `cannot read the ServiceAccount token ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; mount the projected token (audience chrysalis-attestation) or pass --token-file`);
    }
    const token = text.trim();
    if (!token) throw new AttesterError('TOKEN_UNAVAILABLE', `the ServiceAccount token file ${path} is empty`);
    return token;
  };
}

export interface HttpsTransportOptions {
  /** Base URL of the service, https only (e.g. https://chrysalis-attestation.chrysalis-system.svc:8443). */
  serviceUrl: string;
  /** PEM CA bundle the service's certificate must chain to; omitted, Node's default roots apply. */
  ca?: string | Buffer;
  token: () => Promise<string>;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

const b = (s: string | undefined): string => (s ?? '').replace(/\s+/g, ' ').slice(0, 300);

function isReasonList(v: unknown): boolean {
  return Array.isArray(v) && v.every((r) => typeof r === 'object' && r !== null && typeof (r as { code?: unknown }).code === 'string');
}

/**
 * The longest Retry-After believed: a service (or a proxy in front of it) asking for more would have the
 * attester sit out its own attestation's lapse; past this the attester's backoff decides again.
 */
export const MAX_RETRY_AFTER_MS = 300_000;

/**
 * A Retry-After header (RFC 9110 §10.2.3: whole seconds, or an HTTP date) in milliseconds from `nowMs`,
 * capped at MAX_RETRY_AFTER_MS; undefined when absent or unreadable (the backoff alone decides then).
 */
export function retryAfterMsOf(header: string | undefined, nowMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  // An HTTP date names its day and month in letters; a bare signed number is neither form.
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : /^[A-Za-z]{3}, /.test(value) ? Date.parse(value) - nowMs : NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

export class HttpsTransport implements Transport {
  readonly #base: URL;
  /**
   * The pinned CA, parsed once: given only `ca`, each new connection parses it again (a new TLS
   * context per connection), which was a tenth of the fleet simulator's CPU in the chaos bench at 8,000
   * replicas, each request on a new connection. `ca` still goes with each request, so the agent keeps
   * connections made under different CAs apart.
   */
  readonly #secureContext: SecureContext | undefined;
  constructor(private readonly options: HttpsTransportOptions) {
    let url: URL;
    try {
      url = new URL(options.serviceUrl);
    } catch {
      throw new AttesterError('CONFIG_INVALID', `--service "${options.serviceUrl}" is not a URL; give the attestation service's https:// address`);
    }
    // The Bearer token would travel in clear text over http: refuse rather than leak it.
    if (url.protocol !== 'https:') throw new AttesterError('CONFIG_INVALID', `--service must be an https:// URL, got ${url.protocol}`);
    this.#base = url;
    this.#secureContext = options.ca !== undefined ? createSecureContext({ ca: options.ca }) : undefined;
  }

  async challenge(request: ChallengeRequest, signal?: AbortSignal): Promise<ChallengeResponse> {
    const body = await this.post(PATHS.challenge, request, signal);
    const r = body as Partial<ChallengeResponse>;
    if (typeof r.nonce !== 'string' || typeof r.expiresAt !== 'string') {
      throw new AttesterError('SERVICE_ERROR', `${PATHS.challenge} answered without nonce/expiresAt`);
    }
    return { nonce: r.nonce, expiresAt: r.expiresAt };
  }

  async standing(request: ChallengeRequest, signal?: AbortSignal): Promise<NodeStanding> {
    const r = (await this.post(PATHS.standing, request, signal)) as Partial<NodeStanding>;
    if (typeof r.quarantined !== 'boolean') throw new AttesterError('SERVICE_ERROR', `${PATHS.standing} answered without quarantined`);
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const out: NodeStanding = { quarantined: r.quarantined };
    for (const k of ['verifiedAt', 'quarantineReason', 'quarantineMessage', 'quarantinedSince'] as const) {
      const v = str(r[k]);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  async evidence(request: EvidenceRequest, signal?: AbortSignal): Promise<EvidenceResponse> {
    const r = (await this.post(PATHS.evidence, request, signal, true)) as Partial<EvidenceResponse>;
    if (typeof r.verified !== 'boolean' || !isReasonList(r.reasons)) {
      throw new AttesterError('SERVICE_ERROR', `${PATHS.evidence} answered without verified/reasons`);
    }
    return { verified: r.verified, reasons: r.reasons!, ...(typeof r.expiresAt === 'string' ? { expiresAt: r.expiresAt } : {}) };
  }

  async usage(request: SignedUsageReport, signal?: AbortSignal): Promise<UsageResponse> {
    const r = (await this.post(PATHS.usage, request, signal, true)) as Partial<UsageResponse>;
    if (typeof r.accepted !== 'boolean' || !isReasonList(r.reasons)) {
      throw new AttesterError('SERVICE_ERROR', `${PATHS.usage} answered without accepted/reasons`);
    }
    return { accepted: r.accepted, reasons: r.reasons! };
  }

  /**
   * POSTs JSON and returns the parsed answer. 5xx, 429 and network failures are transient
   * (SERVICE_UNAVAILABLE); other non-2xx answers are SERVICE_ERROR, except that a verdict body
   * (verified/accepted false with reasons) sent with a 4xx status is returned as the verdict it is.
   */
  private async post(path: string, payload: unknown, signal: AbortSignal | undefined, verdictOn4xx = false): Promise<unknown> {
    const token = await this.options.token();
    const url = new URL(path, this.#base);
    const data = Buffer.from(JSON.stringify(payload), 'utf8');
    const { status, text, retryAfter } = await new Promise<{ status: number; text: string; retryAfter: string | undefined }>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method: 'POST',
          ...(this.options.ca !== undefined ? { ca: this.options.ca, secureContext: this.#secureContext } : {}),
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': data.length,
            accept: 'application/json',
          },
          timeout: this.options.timeoutMs ?? 30_000,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      req.end(data);
    }).catch((err: Error & { code?: string }) => {
      if (signal?.aborted) throw err;
      // TLS trust failures will not fix themselves; everything else on the network might.
      const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(err.code ?? '');
      const hint = tls ? '; pass the service CA with --ca' : '';
      throw new AttesterError(tls ? 'SERVICE_ERROR' : 'SERVICE_UNAVAILABLE', `POST ${url.href} failed: ${err.code ?? ''}${err.code ? ' ' : ''}${err.message}${hint}`, { transient: !tls, cause: err });
    });

    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) {
      if (parsed === undefined) throw new AttesterError('SERVICE_ERROR', `POST ${url.href} answered ${status} with a body that is not JSON: ${b(text)}`);
      return parsed;
    }
    if (status === 429 || status >= 500) {
      const retryAfterMs = retryAfterMsOf(retryAfter, Date.now());
      throw new AttesterError('SERVICE_UNAVAILABLE', `POST ${url.href} answered ${status}: ${b(text)}`, { transient: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    }
    // 409: the challenge we answered is no longer the pending one (the operator re-issued it): a fresh
    // challenge fixes that, so it is retried like a busy service.
    if (status === 409) throw new AttesterError('SERVICE_ERROR', `POST ${url.href} answered 409: ${b(text)}`, { transient: true });
    if (verdictOn4xx && status >= 400 && parsed && typeof parsed === 'object' && isReasonList((parsed as { reasons?: unknown }).reasons)) {
      const p = parsed as { verified?: unknown; accepted?: unknown };
      // Only a refusal is believed from an error status: a 4xx saying "verified" would be contradictory.
      if (p.verified === false || p.accepted === false) return parsed;
    }
    const hint = status === 401 || status === 403 ? ' (the service refused the ServiceAccount token: check its audience chrysalis-attestation and the attester\'s RBAC)' : '';
    throw new AttesterError('SERVICE_ERROR', `POST ${url.href} answered ${status}: ${b(text)}${hint}`);
  }
}
