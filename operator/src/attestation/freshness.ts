// Freshness and key binding. The caller chooses a nonce; CPU evidence carries it in report_data, either
// directly (right-padded with zeros to 64 bytes) or, when the attester binds a public key, as
// report_data = SHA-512(nonce ‖ public key). GPU evidence in a bundle carries, as its 32-byte SPDM request
// nonce, not the challenge nonce itself but gpuNonceFor(nonce, public key) (below), so a GPU report is bound
// to the CPU evidence it travels with. Age is measured from when the caller issued the nonce; time is
// always injected.
import { bytesEqual, padRight, sha256, sha512, toHex } from './bytes.js';
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

/** Domain separation for the GPU nonce: no other hash in the protocol starts with these bytes. */
export const GPU_NONCE_DOMAIN = new TextEncoder().encode('chrysalis-gpu');

/**
 * The SPDM nonce every GPU of a bundle must sign: SHA-256("chrysalis-gpu" ‖ challenge nonce ‖ public key),
 * where the public key is the one the CPU evidence binds in report_data. Why derived rather than the
 * challenge nonce itself: a GPU signs whatever nonce it is asked for, so with the bare challenge nonce a
 * GPU report answered for the same challenge could be lifted into another bundle with another CPU report
 * and key. With the key in the hash, a GPU report fits only the bundle whose CPU report binds that key for
 * that challenge. (The other way, extending the GPU result into a measured register as dstack does, needs a
 * runtime-measurement register on every CPU family; this works the same on SEV-SNP, TDX and the simulated
 * TEE.) It does not stop a live relay, where the attester asks some other machine's GPUs to sign the
 * derived nonce for it; that needs the GPUs' SPDM session to be bound to this CVM, which CC mode's driver
 * does and evidence alone cannot show. Both inputs have fixed lengths (32 bytes each), so the
 * concatenation is unambiguous.
 */
export function gpuNonceFor(nonce: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (nonce.length !== 32 || publicKey.length !== 32) throw new Error('gpuNonceFor takes a 32-byte nonce and a 32-byte Ed25519 public key');
  return sha256(GPU_NONCE_DOMAIN, nonce, publicKey);
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
