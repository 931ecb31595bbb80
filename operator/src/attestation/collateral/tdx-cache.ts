// The TDX collateral the attestation service verifies quotes with: Intel's TCB info for the quote's FMSPC,
// the TD_QE identity, the CRL of the quote's PCK CA and the Intel SGX Root CA CRL. A TDX quote carries
// only its PCK chain, so for each item the order is: the cache, then the configured PCS/PCCS endpoint,
// then an offline bundle a user imported (newer items in the bundle win over older cached ones).
//
// Nothing is trusted for where it came from. A fetched body enters the cache only when it parses and its
// signature verifies (TCB info and QE identity by the TCB signing chain to the pinned Intel root; a CRL by
// its issuer), so a bad answer never displaces a good copy; and whatever the cache hands out is verified
// again by the verifier, exactly as collateral from any other source. An item is refetched when it is
// within refreshBefore of its nextUpdate or was fetched longer than refreshInterval ago (a CRL can gain
// revocations before its nextUpdate); a failed refetch keeps the current copy. Past nextUpdate the stale
// copy is still handed to the verifier, which refuses it with its own reason (COLLATERAL_INVALID, "not
// current"), and an item never obtained is absent (COLLATERAL_MISSING): both fail closed.
import { verifyChain } from '../chain.js';
import { crlIssuedBy, crlSignatureValid, parseCrl } from '../crl.js';
import { decodeCertificates, decodeEvidenceBytes } from '../evidence-input.js';
import { collateralSignatureValid, parseQeIdentity, parseTcbInfo, type SignedCollateral, type TdxCollateral } from '../tdx/collateral.js';
import { intelAnchor } from '../tdx/intel-root.js';
import { readPckInfo } from '../tdx/pck.js';
import { parseTdxQuote } from '../tdx/quote.js';
import { isSignedBy, parseCertificate, type ParsedCertificate } from '../x509.js';
import type { IntelPcsClient, PckCa } from './intel-pcs.js';
import type { CollateralMetrics } from './metrics.js';
import { collateralState, type CollateralEntryStatus } from './status.js';

export type TdxCollateralKind = 'tcb-info' | 'qe-identity' | 'pck-crl' | 'root-crl';

const TCB_SIGNING_CN = 'Intel SGX TCB Signing';
const PCK_CA_BY_CN: Record<string, PckCa> = { 'Intel SGX PCK Platform CA': 'platform', 'Intel SGX PCK Processor CA': 'processor' };

export interface TdxCollateralCacheOptions {
  /** The PCS/PCCS endpoint; absent: only what is already cached is used. */
  pcs?: IntelPcsClient;
  /** Refetch an item this long before its nextUpdate. */
  refreshBeforeMs: number;
  /** Refetch an item fetched longer ago than this, even when its nextUpdate is far. */
  refreshIntervalMs: number;
  /** After a failed fetch, wait this long before trying that item again. */
  retryAfterMs: number;
  /**
   * An offline bundle a user imported (`chrysalis collateral import`), read when an item is due: used
   * when the endpoint is absent or fails, and whenever it holds a newer item than the cache.
   */
  bundle?: () => TdxCollateral;
  metrics?: CollateralMetrics;
  /** The clock metrics are read with (verification passes its own time). */
  clock?: () => Date;
  logger?: { warn(message: string, meta?: Record<string, unknown>): unknown };
}

interface Held {
  text?: string;
  der?: Uint8Array;
  issuerChain: Uint8Array[];
  issuedAt: Date;
  nextUpdate: Date;
  /** tcbEvaluationDataNumber for TCB info and QE identity: a lower one never replaces a higher one. */
  evaluation: number;
  source: 'endpoint' | 'import';
  fetchedAt: Date;
}

interface Slot {
  kind: TdxCollateralKind;
  key: string;
  held?: Held;
  lastAttemptAt?: Date;
  lastError?: string;
  inFlight?: Promise<void>;
  /** The certificate that signs this CRL (the PCK CA comes from a quote's chain). */
  crlIssuer?: ParsedCertificate;
}

/** A body from some source, before it is admitted. */
interface Candidate {
  text?: string;
  der?: Uint8Array;
  issuerChain: Uint8Array[];
  source: 'endpoint' | 'import';
}

/** Why a fetched body was not admitted to the cache. */
class Refused extends Error {}

/** What one quote needs: its FMSPC and the CA that issued its PCK certificate. */
interface QuoteNeeds {
  fmspc: string;
  ca: PckCa;
  pckCa: ParsedCertificate;
}

function needsOf(quote: Uint8Array | string): QuoteNeeds | undefined {
  try {
    const parsed = parseTdxQuote(decodeEvidenceBytes(quote, (b) => b.length > 48 && (b[0] === 4 || b[0] === 5) && b[1] === 0));
    const certs = decodeCertificates(parsed.pckChainPem, 'PCK chain').map(parseCertificate);
    const [leaf, pckCa] = certs;
    const ca = pckCa?.subjectCommonName ? PCK_CA_BY_CN[pckCa.subjectCommonName] : undefined;
    // Only a PCK certificate Intel issued says which FMSPC and CA to ask for: a quote with a chain of its
    // own making could otherwise make the service fetch (and keep slots for) anything it names, or set
    // the key a cached CRL is checked against. Whether the chain is current and trusted is the verifier's.
    if (!leaf || !pckCa || !ca || !isSignedBy(pckCa, intelAnchor().cert) || !isSignedBy(leaf, pckCa)) return undefined;
    return { fmspc: readPckInfo(leaf).fmspc, ca, pckCa };
  } catch {
    // A quote that does not parse needs no collateral: the verifier refuses it for what it is.
    return undefined;
  }
}

function signedBy<T>(collateral: SignedCollateral<T>, issuerChain: Uint8Array[], now: Date, what: string): void {
  if (issuerChain.length === 0) throw new Refused(`${what} came without its issuer chain`);
  const issuers = issuerChain.map(parseCertificate);
  const signer = issuers.find((c) => c.subjectCommonName === TCB_SIGNING_CN);
  if (!signer) throw new Refused(`${what}: the issuer chain has no "${TCB_SIGNING_CN}" certificate`);
  const chain = verifyChain(signer, issuers, [intelAnchor()], now, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
  if (!chain.ok || chain.reasons.length > 0) throw new Refused(`${what}: the signing certificate does not chain to the Intel SGX Root CA (${chain.reasons.map((r) => r.message).join('; ')})`);
  if (!collateralSignatureValid(collateral, signer)) throw new Refused(`${what}: the signature does not verify over its text`);
}

/** Why a TCB info or QE identity would not be admitted for its signature (undefined: it would be). */
export function collateralSignatureProblem<T>(collateral: SignedCollateral<T>, issuerChain: Uint8Array[], now: Date, what: string): string | undefined {
  try {
    signedBy(collateral, issuerChain, now, what);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function date(value: string, what: string): Date {
  const d = new Date(value);
  if (!Number.isFinite(d.getTime())) throw new Refused(`${what} has no valid date (${JSON.stringify(value)})`);
  return d;
}

export class TdxCollateralCache {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly options: TdxCollateralCacheOptions) {
    options.metrics?.watch(() => this.status((options.clock ?? (() => new Date()))()));
  }

  /** The collateral for one quote at `now`: the cache, refreshed from the endpoint when due. Never throws. */
  async collateralFor(quote: Uint8Array | string, now: Date): Promise<TdxCollateral> {
    const needs = needsOf(quote);
    if (!needs) return {};
    const tcb = this.slot('tcb-info', needs.fmspc);
    const qe = this.slot('qe-identity', 'td-qe');
    const pckCrl = this.slot('pck-crl', needs.ca);
    pckCrl.crlIssuer ??= needs.pckCa;
    const rootCrl = this.slot('root-crl', 'root');
    rootCrl.crlIssuer ??= intelAnchor().cert;
    await Promise.all([tcb, qe, pckCrl, rootCrl].map((s) => this.ensure(s, now)));

    const chain: Uint8Array[] = [];
    for (const der of [...(tcb.held?.issuerChain ?? []), ...(qe.held?.issuerChain ?? [])]) {
      if (!chain.some((c) => Buffer.compare(c, der) === 0)) chain.push(der);
    }
    const collateral: TdxCollateral = {};
    if (tcb.held?.text) collateral.tcbInfos = [tcb.held.text];
    if (qe.held?.text) collateral.qeIdentities = [qe.held.text];
    if (chain.length) collateral.issuerChain = chain;
    const crls = [pckCrl.held?.der, rootCrl.held?.der].filter((d): d is Uint8Array => d !== undefined);
    if (crls.length) collateral.crls = crls;
    return collateral;
  }

  /** Refetches every item that is due (for a periodic timer; verification refetches on its own too). */
  async refreshDue(now: Date): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => this.ensure(s, now)));
  }

  /** Every item the cache holds or has needed, sorted by family, kind and key. */
  status(now: Date): CollateralEntryStatus[] {
    return [...this.slots.values()]
      .map((s): CollateralEntryStatus => ({
        family: 'tdx',
        kind: s.kind,
        key: s.key,
        state: collateralState(now, s.held?.nextUpdate, this.options.refreshBeforeMs),
        ...(s.held
          ? { source: s.held.source, issuedAt: s.held.issuedAt.toISOString(), nextUpdate: s.held.nextUpdate.toISOString(), fetchedAt: s.held.fetchedAt.toISOString() }
          : {}),
        ...(s.lastAttemptAt ? { lastAttemptAt: s.lastAttemptAt.toISOString() } : {}),
        ...(s.lastError ? { lastError: s.lastError } : {}),
      }))
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.key.localeCompare(b.key));
  }

  private slot(kind: TdxCollateralKind, key: string): Slot {
    const id = `${kind}/${key}`;
    let slot = this.slots.get(id);
    if (!slot) {
      slot = { kind, key };
      this.slots.set(id, slot);
    }
    return slot;
  }

  private due(slot: Slot, now: Date): boolean {
    const held = slot.held;
    if (!held) return true;
    if (held.nextUpdate.getTime() - now.getTime() <= this.options.refreshBeforeMs) return true;
    return now.getTime() - held.fetchedAt.getTime() >= this.options.refreshIntervalMs;
  }

  private async ensure(slot: Slot, now: Date): Promise<void> {
    if (!this.due(slot, now)) return;
    if (this.options.bundle) {
      try {
        this.fromBundle(slot, this.options.bundle(), now);
      } catch (err) {
        this.options.logger?.warn('the imported collateral bundle cannot be read', { error: (err as Error).message });
      }
      if (!this.due(slot, now)) return;
    }
    if (!this.options.pcs) return;
    if (slot.inFlight) return slot.inFlight;
    const last = slot.lastAttemptAt?.getTime();
    if (slot.lastError !== undefined && last !== undefined && now.getTime() >= last && now.getTime() - last < this.options.retryAfterMs) return;
    slot.inFlight = this.fetchInto(slot, this.options.pcs, now).finally(() => {
      slot.inFlight = undefined;
    });
    return slot.inFlight;
  }

  private async fetchInto(slot: Slot, pcs: IntelPcsClient, now: Date): Promise<void> {
    slot.lastAttemptAt = now;
    let result = 'ok';
    try {
      const held = this.admit(slot, await this.fetch(slot, pcs), now);
      const current = slot.held;
      if (current && (held.evaluation < current.evaluation || held.issuedAt.getTime() < current.issuedAt.getTime())) {
        // An endpoint serving older collateral than the cache has (a lagging mirror, a rollback) must not
        // undo a newer TCB evaluation or a newer CRL.
        slot.lastError = `the endpoint served an older ${slot.kind} (issued ${held.issuedAt.toISOString()}) than the cached one (issued ${current.issuedAt.toISOString()}); kept the cached one`;
        result = 'refused';
      } else {
        slot.held = held;
        slot.lastError = undefined;
      }
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      result = err instanceof Refused ? 'refused' : status === 404 ? 'not_found' : 'error';
      slot.lastError = err instanceof Error ? err.message : String(err);
      this.options.logger?.warn('collateral fetch failed', { kind: slot.kind, key: slot.key, error: slot.lastError, kept: slot.held !== undefined });
    }
    this.options.metrics?.fetches.inc({ family: 'tdx', kind: slot.kind, result });
  }

  private async fetch(slot: Slot, pcs: IntelPcsClient): Promise<Candidate> {
    switch (slot.kind) {
      case 'tcb-info':
        return { ...(await pcs.tdxTcbInfo(slot.key)), source: 'endpoint' };
      case 'qe-identity':
        return { ...(await pcs.tdQeIdentity()), source: 'endpoint' };
      case 'pck-crl':
        return { der: await pcs.pckCrl(slot.key as PckCa), issuerChain: [], source: 'endpoint' };
      case 'root-crl':
        return { der: await pcs.rootCrl(), issuerChain: [], source: 'endpoint' };
    }
  }

  /** What may enter the cache for `slot`, wherever it came from (the endpoint, an imported bundle). */
  private admit(slot: Slot, candidate: Candidate, now: Date): Held {
    const base = { source: candidate.source, fetchedAt: now, issuerChain: candidate.issuerChain };
    switch (slot.kind) {
      case 'tcb-info': {
        const text = candidate.text ?? '';
        const parsed = this.parse(() => parseTcbInfo(text), 'TCB info');
        if (parsed.body.id !== 'TDX' || parsed.body.fmspc.toLowerCase() !== slot.key) {
          throw new Refused(`asked for the TDX TCB info of FMSPC ${slot.key}, got ${parsed.body.id} for ${parsed.body.fmspc}`);
        }
        signedBy(parsed, candidate.issuerChain, now, `TCB info for FMSPC ${slot.key}`);
        return { ...base, text, issuedAt: date(parsed.body.issueDate, 'TCB info issueDate'), nextUpdate: date(parsed.body.nextUpdate, 'TCB info nextUpdate'), evaluation: parsed.body.tcbEvaluationDataNumber };
      }
      case 'qe-identity': {
        const text = candidate.text ?? '';
        const parsed = this.parse(() => parseQeIdentity(text), 'QE identity');
        if (parsed.body.id !== 'TD_QE') throw new Refused(`asked for the TD_QE identity, got ${parsed.body.id}`);
        signedBy(parsed, candidate.issuerChain, now, 'TD_QE identity');
        return { ...base, text, issuedAt: date(parsed.body.issueDate, 'QE identity issueDate'), nextUpdate: date(parsed.body.nextUpdate, 'QE identity nextUpdate'), evaluation: parsed.body.tcbEvaluationDataNumber };
      }
      case 'pck-crl':
      case 'root-crl': {
        const der = candidate.der ?? new Uint8Array();
        const crl = this.parse(() => parseCrl(der), 'CRL');
        const issuer = slot.crlIssuer!;
        if (!crlIssuedBy(crl, issuer) || !crlSignatureValid(crl, issuer)) throw new Refused(`the ${slot.kind} is not validly signed by "${issuer.subjectCommonName}"`);
        if (!crl.nextUpdate) throw new Refused(`the ${slot.kind} has no nextUpdate, so when to refresh it is unknown`);
        return { ...base, der, issuedAt: crl.thisUpdate, nextUpdate: crl.nextUpdate, evaluation: 0 };
      }
    }
  }

  /** The bundle's items for `slot`: the newest that is admitted replaces an older held copy. */
  private fromBundle(slot: Slot, bundle: TdxCollateral, now: Date): void {
    const chain = bundle.issuerChain ?? [];
    const candidates: Candidate[] =
      slot.kind === 'tcb-info' ? (bundle.tcbInfos ?? []).map((text) => ({ text, issuerChain: chain, source: 'import' }))
      : slot.kind === 'qe-identity' ? (bundle.qeIdentities ?? []).map((text) => ({ text, issuerChain: chain, source: 'import' }))
      : (bundle.crls ?? []).map((der) => ({ der, issuerChain: [], source: 'import' }));
    for (const candidate of candidates) {
      let held: Held;
      try {
        held = this.admit(slot, candidate, now);
      } catch {
        // Items for other slots (another FMSPC, the other CRL) or unusable ones: the import command checked
        // them when they were imported; the verifier never sees what is not admitted here.
        continue;
      }
      const current = slot.held;
      if (!current || held.evaluation > current.evaluation || (held.evaluation === current.evaluation && held.issuedAt.getTime() > current.issuedAt.getTime())) {
        slot.held = held;
      }
    }
  }

  private parse<T>(parse: () => T, what: string): T {
    try {
      return parse();
    } catch (err) {
      throw new Refused(`${what} does not parse: ${(err as Error).message}`);
    }
  }
}
