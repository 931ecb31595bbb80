// OCSP responses for the NVIDIA certificates of GPU evidence (nvidia/revocation.ts says which), kept per
// certificate until their nextUpdate. Order: the cache, then the configured OCSP endpoint (NVIDIA's
// service or a mirror: nvidia-ocsp.ts), then the offline bundle (`chrysalis collateral import`). A response
// enters the cache only when it is signed by the certificate's issuer or the issuer's delegated responder,
// covers the certificate, is current and is not older than the one held (ocsp.ts judgeOcsp); "revoked"
// and "unknown" answers are kept like "good" ones, since they are the truth the verifier must hear. An
// item is refetched `refreshBeforeMs` before its nextUpdate and at least every `refreshIntervalMs`; a
// failed refetch keeps the current copy, which the verifier refuses once it is past nextUpdate.
//
// Certificates are taken from the evidence before it is verified, so a pair is looked up only when the
// issuer's key signed the certificate (nothing is fetched for made-up pairs), entries are bounded, and
// ones that never got a response go first.
import { decodeCertificates } from '../evidence-input.js';
import { certIdFor, certIdKey, judgeOcsp, parseOcspResponse, type CertStatus, type ParsedOcspResponse } from '../ocsp.js';
import { ocspPairs } from '../nvidia/revocation.js';
import { isSignedBy, namesIssuer, parseCertificate, type ParsedCertificate } from '../x509.js';
import type { CollateralMetrics } from './metrics.js';
import type { NvidiaOcspClient } from './nvidia-ocsp.js';
import { collateralState, type CollateralEntryStatus } from './status.js';
import { evictBeyond } from './bounded-slots.js';

export interface OcspCacheOptions {
  client?: Pick<NvidiaOcspClient, 'status'>;
  /** Responses (DER) of the offline bundle, read when needed. */
  bundle?: () => Uint8Array[];
  /** Ask for the status of every GPU report's NVIDIA certificates (when an endpoint or bundle responses exist). */
  required: boolean;
  retryAfterMs: number;
  refreshBeforeMs?: number;
  refreshIntervalMs?: number;
  maxEntries?: number;
  metrics?: CollateralMetrics;
  clock?: () => Date;
  logger?: { warn(message: string, meta?: Record<string, unknown>): unknown };
}

interface Slot {
  key: string;
  name: string;
  der?: Uint8Array;
  status?: CertStatus;
  thisUpdate?: Date;
  nextUpdate?: Date;
  source?: 'endpoint' | 'import';
  fetchedAt?: Date;
  lastAttemptAt?: Date;
  lastError?: string;
  inFlight?: Promise<void>;
}

const DEFAULT_MAX_ENTRIES = 4096;

/** Why a response is not admitted for (cert, issuer) over what the slot holds, or undefined. */
function refusal(response: ParsedOcspResponse, cert: ParsedCertificate, issuer: ParsedCertificate, slot: Slot, now: Date): string | undefined {
  const j = judgeOcsp(cert, issuer, [response], now);
  if (j.status === 'missing' || j.status === 'stale') return j.problem;
  if (slot.thisUpdate && j.single.thisUpdate.getTime() < slot.thisUpdate.getTime()) return `the response (thisUpdate ${j.single.thisUpdate.toISOString()}) is older than the one held (${slot.thisUpdate.toISOString()})`;
  return undefined;
}

export class OcspCache {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly options: OcspCacheOptions) {
    options.metrics?.watch(() => this.status((options.clock ?? (() => new Date()))()));
  }

  /** Whether the service asks for certificate status: required, and an endpoint or bundle responses to ask. */
  get checksOcsp(): boolean {
    if (!this.options.required) return false;
    if (this.options.client) return true;
    try {
      return (this.options.bundle?.().length ?? 0) > 0;
    } catch {
      return false;
    }
  }

  /**
   * The responses for the NVIDIA-issued certificates of GPU device chains (each a PEM bundle or DER list,
   * leaf first), fetched when due. What the cache holds is returned even when stale: the verifier judges
   * it. Never throws.
   */
  async responsesFor(chains: readonly (string | Uint8Array[])[], now: Date): Promise<Uint8Array[]> {
    const pairs: [ParsedCertificate, ParsedCertificate][] = [];
    for (const chain of chains) {
      let certs: ParsedCertificate[];
      try {
        certs = (Array.isArray(chain) ? chain : decodeCertificates(chain, 'GPU certificate chain')).map(parseCertificate);
      } catch {
        continue; // the verifier refuses the chain for what it is
      }
      for (const [cert, issuer] of ocspPairs(certs, 'gpu')) if (namesIssuer(cert, issuer) && isSignedBy(cert, issuer)) pairs.push([cert, issuer]);
    }
    const out = new Map<string, Uint8Array>();
    for (const [cert, issuer] of pairs) {
      const slot = await this.slotFor(cert, issuer, now);
      if (slot.der) out.set(slot.key, slot.der);
    }
    return [...out.values()];
  }

  private async slotFor(cert: ParsedCertificate, issuer: ParsedCertificate, now: Date): Promise<Slot> {
    const key = certIdKey(certIdFor(cert, issuer, 'sha384'));
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { key, name: `${cert.subjectCommonName ?? cert.subject} ${cert.serialHex.replace(/^0+(?=.)/, '')}` };
      this.slots.set(key, slot);
      const max = this.options.maxEntries ?? DEFAULT_MAX_ENTRIES;
      evictBeyond(this.slots, max, slot);
    }
    const refreshBefore = this.options.refreshBeforeMs ?? 86_400_000;
    const interval = this.options.refreshIntervalMs ?? 21_600_000;
    const due = !slot.der
      || (slot.nextUpdate !== undefined && now.getTime() >= slot.nextUpdate.getTime() - refreshBefore)
      || (slot.fetchedAt !== undefined && now.getTime() - slot.fetchedAt.getTime() >= interval);
    if (!due) return slot;
    if (this.options.client) await this.fetchInto(slot, cert, issuer, now);
    if (slot.fetchedAt?.getTime() !== now.getTime()) this.adoptFromBundle(slot, cert, issuer, now);
    return slot;
  }

  private admit(slot: Slot, der: Uint8Array, response: ParsedOcspResponse, cert: ParsedCertificate, issuer: ParsedCertificate, now: Date, source: 'endpoint' | 'import'): void {
    const j = judgeOcsp(cert, issuer, [response], now);
    if (j.status === 'missing' || j.status === 'stale') return;
    Object.assign(slot, { der, status: j.status, thisUpdate: j.single.thisUpdate, nextUpdate: j.single.nextUpdate, source, fetchedAt: now });
  }

  /** The newest admissible bundle response for the pair, when it is newer than what the slot holds. */
  private adoptFromBundle(slot: Slot, cert: ParsedCertificate, issuer: ParsedCertificate, now: Date): void {
    let ders: Uint8Array[];
    try {
      ders = this.options.bundle?.() ?? [];
    } catch (err) {
      this.options.logger?.warn('offline collateral bundle unreadable', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    let best: { der: Uint8Array; response: ParsedOcspResponse; thisUpdate: Date } | undefined;
    for (const der of ders) {
      let response: ParsedOcspResponse;
      try {
        response = parseOcspResponse(der);
      } catch {
        continue;
      }
      if (refusal(response, cert, issuer, slot, now)) continue;
      const j = judgeOcsp(cert, issuer, [response], now);
      if (j.status === 'missing' || j.status === 'stale') continue;
      if (!best || j.single.thisUpdate.getTime() > best.thisUpdate.getTime()) best = { der, response, thisUpdate: j.single.thisUpdate };
    }
    if (best && (!slot.thisUpdate || best.thisUpdate.getTime() > slot.thisUpdate.getTime() || !slot.der)) this.admit(slot, best.der, best.response, cert, issuer, now, 'import');
  }

  private fetchInto(slot: Slot, cert: ParsedCertificate, issuer: ParsedCertificate, now: Date): Promise<void> {
    if (slot.inFlight) return slot.inFlight;
    const last = slot.lastAttemptAt?.getTime();
    if (slot.lastError !== undefined && last !== undefined && now.getTime() >= last && now.getTime() - last < this.options.retryAfterMs) return Promise.resolve();
    const client = this.options.client!;
    slot.inFlight = (async () => {
      slot.lastAttemptAt = now;
      let result = 'ok';
      try {
        const { der, parsed } = await client.status(cert, issuer);
        const why = refusal(parsed, cert, issuer, slot, now);
        if (why) {
          result = 'refused';
          slot.lastError = why;
        } else {
          this.admit(slot, der, parsed, cert, issuer, now, 'endpoint');
          slot.lastError = undefined;
        }
      } catch (err) {
        result = (err as { status?: unknown }).status === 404 ? 'not_found' : 'error';
        slot.lastError = err instanceof Error ? err.message : String(err);
      }
      if (slot.lastError) this.options.logger?.warn('NVIDIA OCSP fetch failed', { certificate: slot.name, error: slot.lastError });
      this.options.metrics?.fetches.inc({ family: 'nvidia', kind: 'ocsp', result });
    })().finally(() => {
      slot.inFlight = undefined;
    });
    return slot.inFlight;
  }

  status(now: Date): CollateralEntryStatus[] {
    const refreshBefore = this.options.refreshBeforeMs ?? 86_400_000;
    return [...this.slots.values()]
      .map((s): CollateralEntryStatus => ({
        family: 'nvidia',
        kind: 'ocsp',
        key: s.status && s.status !== 'good' ? `${s.name} (${s.status})` : s.name,
        state: !s.der ? 'missing' : collateralState(now, s.nextUpdate, refreshBefore),
        ...(s.der ? { source: s.source!, issuedAt: s.thisUpdate!.toISOString(), ...(s.nextUpdate ? { nextUpdate: s.nextUpdate.toISOString() } : {}), fetchedAt: s.fetchedAt!.toISOString() } : {}),
        ...(s.lastAttemptAt ? { lastAttemptAt: s.lastAttemptAt.toISOString() } : {}),
        ...(s.lastError ? { lastError: s.lastError } : {}),
      }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }
}
