// What the collateral cache tells operators (the CLI's `collateral status`, the metrics): per item, where
// it came from, its validity window and whether it is current. JSON-serialisable.

export type CollateralState =
  /** Present and not yet due for refresh. */
  | 'fresh'
  /** Present and current, but within the refresh margin of its nextUpdate: the next use refetches it. */
  | 'refresh-due'
  /** Present but past its nextUpdate: verification that needs it fails closed until a newer one is fetched. */
  | 'stale'
  /** Needed once but never obtained: verification that needs it fails closed (COLLATERAL_MISSING). */
  | 'missing';

export interface CollateralEntryStatus {
  family: 'tdx' | 'sev-snp' | 'nvidia';
  /** tcb-info, qe-identity, pck-crl, root-crl; vcek, crl; ocsp (NVIDIA certificate status). */
  kind: string;
  /** What distinguishes items of one kind: the FMSPC, the PCK CA (platform, processor), "td-qe", "root". */
  key: string;
  state: CollateralState;
  /** endpoint (fetched from the configured URL) or import (an offline bundle). */
  source?: 'endpoint' | 'import';
  issuedAt?: string;
  nextUpdate?: string;
  fetchedAt?: string;
  lastAttemptAt?: string;
  /** Why the last fetch did not replace what is cached (never contains credentials). */
  lastError?: string;
}

export function collateralState(now: Date, nextUpdate: Date | undefined, refreshBeforeMs: number): CollateralState {
  if (!nextUpdate) return 'missing';
  if (now.getTime() > nextUpdate.getTime()) return 'stale';
  if (nextUpdate.getTime() - now.getTime() <= refreshBeforeMs) return 'refresh-due';
  return 'fresh';
}
