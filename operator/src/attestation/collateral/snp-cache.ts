// VCEK certificates for SEV-SNP reports whose host sent none (a host without an auxblob or certificate
// table). Order: the certificate the evidence carries (the caller does not ask then), the cache, then the
// configured AMD KDS (or a KDS-compatible cache). A VLEK cannot be fetched (AMD issues it to the cloud
// provider), so a VLEK-signed report without its certificate stays COLLATERAL_MISSING.
//
// A fetched certificate enters the cache only when it chains to a pinned ARK of the generation asked for
// and belongs to the report (hwID = chip id, SPLs = reported TCB); the verifier checks it again, as any
// certificate. A VCEK has no nextUpdate: it is used until its notAfter, after which the verifier refuses
// it (CERT_EXPIRED) and the cache fetches a new one.
//
// AMD CRLs: per product the CRL its ARK signs (KDS /vcek/v1/{product}/crl). One enters the cache only when
// the pinned ARK of that product validly signed it, it is current, and it is not older than the one held;
// it is refetched `refreshBeforeMs` before its nextUpdate and at least every `refreshIntervalMs` (new
// revocations); a failed refetch keeps the current copy, which the verifier refuses once it is past its
// nextUpdate (COLLATERAL_INVALID). With `crlRequired` the service asks for them for every sev-snp report
// (bundle-verifier.ts), and the verifier requires the ARK's (sev-snp/revocation.ts). A site without a KDS
// imports them in the offline bundle (`bundleCrls`): a bundle CRL the ARK signed that is current and newer
// than the one held is taken when the KDS (if any) gave none, and once the bundle carries an AMD CRL the
// service asks for them as with a KDS.
import { crlIssuedBy, crlSignatureValid, parseCrl } from '../crl.js';
import { amdAnchors } from '../sev-snp/amd-roots.js';
import type { ParsedCertificate } from '../x509.js';
import { decodeEvidenceBytes } from '../evidence-input.js';
import { isHclReport, parseHclReport } from '../sev-snp/hcl.js';
import { parseSnpReport, SNP_REPORT_SIZE, type SnpReport } from '../sev-snp/report.js';
import { decodeTcb, generationFromCpuid, type Generation, type SnpTcb } from '../sev-snp/tcb.js';
import { readAmdKeyCertificate } from '../sev-snp/vcek.js';
import { verifyAmdSigningCertificate } from '../sev-snp/verify.js';
import { parseCertificate } from '../x509.js';
import { toHex } from '../bytes.js';
import { AmdKdsClient } from './amd-kds.js';
import type { CollateralMetrics } from './metrics.js';
import { collateralState, type CollateralEntryStatus } from './status.js';
import { evictBeyond } from './bounded-slots.js';

export interface SnpVcekCacheOptions {
  kds?: AmdKdsClient;
  retryAfterMs: number;
  /** Certificates kept (one per chip and TCB); the oldest is dropped beyond it. */
  maxEntries?: number;
  metrics?: CollateralMetrics;
  clock?: () => Date;
  logger?: { warn(message: string, meta?: Record<string, unknown>): unknown };
  /** Ask for the ARK's CRL of every sev-snp report (the KDS must be configured). */
  crlRequired?: boolean;
  /** Refetch a CRL this long before its nextUpdate (default 1 day). */
  refreshBeforeMs?: number;
  /** Refetch a CRL fetched longer ago than this (default 6 hours). */
  refreshIntervalMs?: number;
  /** The ARK a product's CRL must be signed by: the pinned one; tests substitute their own root. */
  arkFor?: (product: Generation) => ParsedCertificate | undefined;
  /** The offline bundle's DER CRLs (Intel's too: only those an ARK validly signed are taken). */
  bundleCrls?: () => Uint8Array[];
}

/** What every cached item keeps of its fetching (fetchInto). */
interface FetchSlot {
  der?: Uint8Array;
  fetchedAt?: Date;
  lastAttemptAt?: Date;
  lastError?: string;
  inFlight?: Promise<Uint8Array | undefined>;
}

interface CrlSlot extends FetchSlot {
  product: Generation;
  thisUpdate?: Date;
  nextUpdate?: Date;
  source?: 'endpoint' | 'import';
}

const pinnedArk = (product: Generation): ParsedCertificate | undefined => amdAnchors().find((a) => a.generation === product)?.cert;

interface Slot extends FetchSlot {
  product: Generation;
  key: string;
  notAfter?: Date;
}

const DEFAULT_MAX_ENTRIES = 4096;

function reportOf(input: Uint8Array | string): SnpReport | undefined {
  try {
    const bytes = decodeEvidenceBytes(input, (b) => b.length === SNP_REPORT_SIZE || isHclReport(b));
    return parseSnpReport(isHclReport(bytes) ? parseHclReport(bytes).report : bytes);
  } catch {
    // A report that does not parse needs no certificate: the verifier refuses it for what it is.
    return undefined;
  }
}

function refusal(der: Uint8Array, product: Generation, hwId: string, tcb: SnpTcb, now: Date): string | undefined {
  const chain = verifyAmdSigningCertificate(der, { now });
  if (!chain.verified) return `the certificate does not chain to a pinned AMD root at ${now.toISOString()}: ${chain.reasons.map((r) => r.message).join('; ')}`;
  if (chain.claims.generation !== product) return `asked for a ${product} VCEK, got one chaining to ${chain.claims.generation ?? 'an unknown'} ARK`;
  const key = readAmdKeyCertificate(parseCertificate(der));
  if (key.kind !== 'vcek') return 'the certificate is not a VCEK';
  if (!key.hwId || toHex(key.hwId) !== hwId) return `the VCEK was issued for another chip (hwID ${key.hwId ? toHex(key.hwId).slice(0, 16) : 'absent'}…)`;
  const spl = key.spl;
  if (spl.bootloader !== tcb.bootloader || spl.tee !== tcb.tee || spl.snp !== tcb.snp || spl.microcode !== tcb.microcode || (product === 'Turin' && spl.fmc !== tcb.fmc)) {
    return `the VCEK certifies another TCB than the report's reported_tcb ${tcb.raw}`;
  }
  return undefined;
}

/** Why a fetched CRL is not admitted, or undefined. */
function crlRefusal(der: Uint8Array, product: Generation, ark: ParsedCertificate | undefined, held: CrlSlot, now: Date): string | undefined {
  if (!ark) return `no pinned ARK for ${product}`;
  let crl;
  try {
    crl = parseCrl(der);
  } catch (err) {
    return `the CRL does not parse: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!crlIssuedBy(crl, ark) || !crlSignatureValid(crl, ark)) return `the CRL is not validly signed by ARK-${product}`;
  if (crl.thisUpdate.getTime() > now.getTime() || (crl.nextUpdate && crl.nextUpdate.getTime() < now.getTime())) {
    return `the CRL is not current at ${now.toISOString()} (${crl.thisUpdate.toISOString()}..${crl.nextUpdate?.toISOString() ?? '?'})`;
  }
  if (held.thisUpdate && crl.thisUpdate.getTime() < held.thisUpdate.getTime()) return `the CRL (thisUpdate ${crl.thisUpdate.toISOString()}) is older than the one held (${held.thisUpdate.toISOString()})`;
  return undefined;
}

function productsOf(report: SnpReport): Generation[] {
  // v3+ reports name their CPU; a v2 report does not, and only Milan and Genoa produce v2 reports.
  const fromCpuid = report.cpuid && report.cpuid.family !== 0 ? generationFromCpuid(report.cpuid.family, report.cpuid.model) : undefined;
  return fromCpuid ? [fromCpuid] : ['Milan', 'Genoa'];
}

export class SnpVcekCache {
  private readonly slots = new Map<string, Slot>();
  private readonly crls = new Map<Generation, CrlSlot>();

  /** Whether the service asks for AMD CRLs: they are required, and a KDS is configured or the bundle carries one. */
  get checksCrls(): boolean {
    if (this.options.crlRequired !== true) return false;
    return this.options.kds !== undefined || this.bundleArkCrls().length > 0;
  }

  /** The bundle's CRLs issued under the name of some product's ARK (signatures are checked on admission). */
  private bundleArkCrls(): Uint8Array[] {
    let ders: Uint8Array[];
    try {
      ders = this.options.bundleCrls?.() ?? [];
    } catch (err) {
      this.options.logger?.warn('offline collateral bundle unreadable', { error: err instanceof Error ? err.message : String(err) });
      return [];
    }
    const arks = (['Milan', 'Genoa', 'Turin'] as const).map((p) => (this.options.arkFor ?? pinnedArk)(p)).filter((a): a is ParsedCertificate => a !== undefined);
    return ders.filter((der) => {
      try {
        const crl = parseCrl(der);
        return arks.some((ark) => crlIssuedBy(crl, ark));
      } catch {
        return false;
      }
    });
  }

  /** Takes the newest bundle CRL the product's ARK signed, current and newer than the held one. */
  private adoptCrlFromBundle(slot: CrlSlot, product: Generation, now: Date): void {
    const ark = (this.options.arkFor ?? pinnedArk)(product);
    let best: { der: Uint8Array; thisUpdate: Date; nextUpdate: Date | undefined } | undefined;
    for (const der of this.bundleArkCrls()) {
      if (crlRefusal(der, product, ark, slot, now)) continue;
      const crl = parseCrl(der);
      if (!best || crl.thisUpdate.getTime() > best.thisUpdate.getTime()) best = { der, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
    }
    if (!best) return;
    if (slot.der && slot.thisUpdate && best.thisUpdate.getTime() <= slot.thisUpdate.getTime()) return;
    Object.assign(slot, { der: best.der, thisUpdate: best.thisUpdate, nextUpdate: best.nextUpdate, source: 'import', fetchedAt: now });
  }

  constructor(private readonly options: SnpVcekCacheOptions) {
    options.metrics?.watch(() => this.status((options.clock ?? (() => new Date()))()));
  }

  /** The VCEK for a report (raw, hex, base64 or Azure HCL) at `now`; undefined when none can be had. Never throws. */
  async vcekFor(input: Uint8Array | string, now: Date): Promise<Uint8Array | undefined> {
    const report = reportOf(input);
    if (!report || report.signingKey !== 'vcek') return undefined;
    for (const product of productsOf(report)) {
      const der = await this.forProduct(report, product, now);
      if (der) return der;
    }
    return undefined;
  }

  /**
   * The ARK-signed CRLs for the products a report may be from (its CPUID's, or Milan and Genoa for a v2
   * report), fetched when due. What the cache holds is returned even when stale: the verifier judges it.
   * Never throws.
   */
  async crlsFor(input: Uint8Array | string, now: Date): Promise<Uint8Array[]> {
    const report = reportOf(input);
    if (!report) return [];
    const out: Uint8Array[] = [];
    for (const product of productsOf(report)) {
      const der = await this.crlFor(product, now);
      if (der) out.push(der);
    }
    return out;
  }

  private async crlFor(product: Generation, now: Date): Promise<Uint8Array | undefined> {
    let slot = this.crls.get(product);
    if (!slot) {
      slot = { product };
      this.crls.set(product, slot);
    }
    const refreshBefore = this.options.refreshBeforeMs ?? 86_400_000;
    const interval = this.options.refreshIntervalMs ?? 21_600_000;
    const due = !slot.der
      || (slot.nextUpdate !== undefined && now.getTime() >= slot.nextUpdate.getTime() - refreshBefore)
      || (slot.fetchedAt !== undefined && now.getTime() - slot.fetchedAt.getTime() >= interval);
    const kds = this.options.kds;
    if (!due) return slot.der;
    const s = slot;
    if (kds) {
      await this.fetchInto(s, now, {
        kind: 'crl',
        log: { message: 'AMD CRL fetch failed', product },
        fetch: () => kds.crl(product),
        refusal: (der) => crlRefusal(der, product, (this.options.arkFor ?? pinnedArk)(product), s, now),
        admit: (der) => {
          const crl = parseCrl(der);
          s.thisUpdate = crl.thisUpdate;
          s.nextUpdate = crl.nextUpdate;
          s.source = 'endpoint';
        },
      });
    }
    // The KDS gave nothing new now (none configured, unreachable, or it refused what it served).
    if (s.fetchedAt?.getTime() !== now.getTime()) this.adoptCrlFromBundle(s, product, now);
    return s.der;
  }

  private async forProduct(report: SnpReport, product: Generation, now: Date): Promise<Uint8Array | undefined> {
    const hwId = toHex(product === 'Turin' ? report.chipId.subarray(0, 8) : report.chipId);
    const tcb = decodeTcb(report.reportedTcb, product);
    const key = AmdKdsClient.vcekPath(product, hwId, tcb);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { product, key };
      this.slots.set(key, slot);
      // Reports are looked up before their signature can be checked, so chip ids an attester makes up
      // must not push out certificates in use: slots that never got one go first, oldest first.
      const max = this.options.maxEntries ?? DEFAULT_MAX_ENTRIES;
      evictBeyond(this.slots, max, slot);
    }
    if (slot.der && slot.notAfter && now.getTime() <= slot.notAfter.getTime()) return slot.der;
    const kds = this.options.kds;
    if (!kds) return slot.der;
    const s = slot;
    return this.fetchInto(s, now, {
      kind: 'vcek',
      log: { message: 'VCEK fetch failed', key: s.key },
      fetch: () => kds.vcek(product, hwId, tcb),
      refusal: (der) => refusal(der, product, hwId, tcb, now),
      admit: (der) => {
        s.notAfter = parseCertificate(der).notAfter;
      },
    });
  }

  /**
   * One fetch into a slot that is due: at most one in flight per slot (callers share it), none within
   * retryAfterMs of a failed one, and what is fetched is kept only when `refusal` finds nothing against
   * it; a failure keeps the slot's current copy. Logged and counted either way. Resolves to what the slot
   * holds afterwards.
   */
  private fetchInto(slot: FetchSlot, now: Date, how: {
    kind: 'crl' | 'vcek';
    log: { message: string } & Record<string, unknown>;
    fetch: () => Promise<Uint8Array>;
    refusal: (der: Uint8Array) => string | undefined;
    /** Records what the slot's kind keeps of an admitted answer besides its bytes. */
    admit: (der: Uint8Array) => void;
  }): Promise<Uint8Array | undefined> {
    if (slot.inFlight) return slot.inFlight;
    const last = slot.lastAttemptAt?.getTime();
    if (slot.lastError !== undefined && last !== undefined && now.getTime() >= last && now.getTime() - last < this.options.retryAfterMs) return Promise.resolve(slot.der);
    slot.inFlight = (async () => {
      slot.lastAttemptAt = now;
      let result = 'ok';
      try {
        const der = await how.fetch();
        const why = how.refusal(der);
        if (why) {
          result = 'refused';
          slot.lastError = why;
        } else {
          how.admit(der);
          slot.der = der;
          slot.fetchedAt = now;
          slot.lastError = undefined;
        }
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        result = status === 404 ? 'not_found' : 'error';
        slot.lastError = err instanceof Error ? err.message : String(err);
      }
      const { message, ...meta } = how.log;
      if (slot.lastError) this.options.logger?.warn(message, { ...meta, error: slot.lastError });
      this.options.metrics?.fetches.inc({ family: 'sev-snp', kind: how.kind, result });
      return slot.der;
    })().finally(() => {
      slot.inFlight = undefined;
    });
    return slot.inFlight;
  }

  status(now: Date): CollateralEntryStatus[] {
    const refreshBefore = this.options.refreshBeforeMs ?? 86_400_000;
    const crls = [...this.crls.values()].map((s): CollateralEntryStatus => ({
      family: 'sev-snp',
      kind: 'crl',
      key: s.product,
      state: !s.der ? 'missing' : s.nextUpdate ? collateralState(now, s.nextUpdate, refreshBefore) : 'fresh',
      ...(s.der ? { source: s.source ?? 'endpoint', issuedAt: s.thisUpdate!.toISOString(), ...(s.nextUpdate ? { nextUpdate: s.nextUpdate.toISOString() } : {}), fetchedAt: s.fetchedAt!.toISOString() } : {}),
      ...(s.lastAttemptAt ? { lastAttemptAt: s.lastAttemptAt.toISOString() } : {}),
      ...(s.lastError ? { lastError: s.lastError } : {}),
    }));
    return [...crls, ...this.statusOfVceks(now)];
  }

  private statusOfVceks(now: Date): CollateralEntryStatus[] {
    return [...this.slots.values()]
      .map((s): CollateralEntryStatus => ({
        family: 'sev-snp',
        kind: 'vcek',
        key: s.key.replace(/^vcek\/v1\//, ''),
        state: !s.notAfter ? 'missing' : now.getTime() > s.notAfter.getTime() ? 'stale' : 'fresh',
        ...(s.der ? { source: 'endpoint' as const, nextUpdate: s.notAfter!.toISOString(), fetchedAt: s.fetchedAt!.toISOString() } : {}),
        ...(s.lastAttemptAt ? { lastAttemptAt: s.lastAttemptAt.toISOString() } : {}),
        ...(s.lastError ? { lastError: s.lastError } : {}),
      }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }
}
