// Freshness and key binding. The caller chooses a nonce; CPU evidence carries it in report_data, either
// directly (right-padded with zeros to 64 bytes) or, when the attester binds a public key, as
// report_data = SHA-512(nonce ‖ public key). GPU evidence carries the 32-byte nonce
// in the SPDM request. Age is measured from when the caller issued the nonce; time is always injected.
import { bytesEqual, padRight, sha512, toHex } from './bytes.js';
import type { VerifierPolicy } from './policy.js';
import { reason, type Reason } from './reasons.js';

export interface FreshnessInput {
  /** The caller's nonce. Absent: the report is not checked for freshness (CLI without --nonce). */
  nonce?: Uint8Array;
  /** The key the attester says it bound (Ed25519, raw 32 bytes). Requires a nonce. */
  publicKey?: Uint8Array;
}

/** Expected report_data for a nonce and optional bound key. */
export function expectedReportData(nonce: Uint8Array, publicKey?: Uint8Array): Uint8Array {
  return publicKey ? sha512(nonce, publicKey) : padRight(nonce, 64);
}

export function checkReportData(reportData: Uint8Array, input: FreshnessInput): Reason[] {
  if (input.publicKey && !input.nonce) {
    return [reason('BINDING_MISMATCH', 'a public key was given without the nonce it is bound with')];
  }
  if (!input.nonce) return [];
  if (input.nonce.length > 64) return [reason('NONCE_MISMATCH', `nonce is ${input.nonce.length} bytes; report_data holds at most 64`)];
  const expected = expectedReportData(input.nonce, input.publicKey);
  if (bytesEqual(reportData, expected)) return [];
  if (input.publicKey) {
    return [reason('BINDING_MISMATCH', `report_data ${toHex(reportData).slice(0, 16)}… is not SHA-512(nonce ‖ public key) ${toHex(expected).slice(0, 16)}…`)];
  }
  return [reason('NONCE_MISMATCH', `report_data ${toHex(reportData).slice(0, 16)}… does not carry the expected nonce ${toHex(expected).slice(0, 16)}…`)];
}

/** Evidence age against policy.maxEvidenceAgeSeconds; without an issue time the age is unknown (fail closed). */
export function checkEvidenceAge(policy: VerifierPolicy, now: Date, issuedAt: Date | undefined): Reason[] {
  const max = policy.maxEvidenceAgeSeconds;
  if (max === undefined) return [];
  if (!issuedAt || Number.isNaN(issuedAt.getTime())) {
    return [reason('EVIDENCE_TOO_OLD', `the policy limits evidence age to ${max}s but no nonce issue time was given to measure it`)];
  }
  const ageSeconds = (now.getTime() - issuedAt.getTime()) / 1000;
  if (ageSeconds < 0) return [reason('EVIDENCE_TOO_OLD', `the nonce was issued in the future (${issuedAt.toISOString()} > ${now.toISOString()})`)];
  if (ageSeconds > max) return [reason('EVIDENCE_TOO_OLD', `evidence is ${Math.round(ageSeconds)}s old; the policy allows ${max}s`)];
  return [];
}
