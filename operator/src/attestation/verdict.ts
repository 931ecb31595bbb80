// The result every verifier returns. `verified` is true only when there is no reason at all: a verifier
// never sets it directly, so a forgotten check cannot turn into an accidental pass.
import type { Reason } from './reasons.js';

export type EvidenceType = 'sev-snp' | 'tdx' | 'nvidia-gpu';

export interface Verdict<C> {
  verified: boolean;
  type: EvidenceType | 'bundle';
  /** What the evidence says. Only authenticated when `verified` is true. */
  claims: C;
  reasons: Reason[];
}

export function verdict<C>(type: Verdict<C>['type'], claims: C, reasons: Reason[]): Verdict<C> {
  return { verified: reasons.length === 0, type, claims, reasons };
}
