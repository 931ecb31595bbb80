// What every verification takes besides the evidence: the policy, the time and the freshness inputs.
// Nothing here is read from the environment; the caller injects all of it.
import type { VerifierPolicy } from './policy.js';

export interface VerifyOptions {
  /** Defaults to DEFAULT_POLICY (vendor roots only, debug forbidden, TDX collateral required). */
  policy?: VerifierPolicy;
  /** The verification time: certificate validity, CRL and collateral freshness are judged at it. */
  now: Date;
  /** The caller's nonce (CPU: report_data, padded to 64 bytes; GPU: the 32-byte SPDM request nonce). */
  nonce?: Uint8Array;
  /** With a nonce: CPU report_data must be SHA-512(nonce ‖ publicKey). */
  publicKey?: Uint8Array;
  /** When the nonce was issued, for policy.maxEvidenceAgeSeconds. */
  nonceIssuedAt?: Date;
}
