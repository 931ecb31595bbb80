// Cocoon-style image hashes: one SHA-256 that names "this exact guest image", comparable across
// attestations and publishable in an allow list. TDX: Cocoon's own formula, so that an allow list written for
// Cocoon matches a Chrysalis claim: SHA-256 over its serialised attestation data with the report data zeroed,
// MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3 ‖ 64 zero bytes (raw 48-byte
// registers in that order, no length prefixes). SEV-SNP: over the 48-byte launch measurement.
import { sha256, toHex } from './bytes.js';
import type { VerifierPolicy } from './policy.js';
import { reason, type Reason } from './reasons.js';

export interface TdxImageRegisters {
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: readonly Uint8Array[];
}

/** Cocoon hashes the report data field too, zeroed: the image hash must not depend on the challenge. */
const ZEROED_REPORT_DATA = new Uint8Array(64);

export function tdxImageHash(r: TdxImageRegisters): string {
  return toHex(sha256(r.mrTd, r.mrConfigId, r.mrOwner, r.mrOwnerConfig, ...r.rtmrs, ZEROED_REPORT_DATA));
}

/**
 * The value Chrysalis before 0.2 published as the TDX image hash (no zeroed report data). Never accepted:
 * only recognised, so that a policy still listing it is told why it no longer matches.
 */
export function legacyTdxImageHash(r: TdxImageRegisters): string {
  return toHex(sha256(r.mrTd, r.mrConfigId, r.mrOwner, r.mrOwnerConfig, ...r.rtmrs));
}

export function snpImageHash(measurement: Uint8Array): string {
  return toHex(sha256(measurement));
}

/**
 * Allow-list checks for the launch measurement and the image hash (absent lists allow anything). With
 * legacyImageHashHex (TDX), an allow list entry equal to it is named in the rejection with the hash to use.
 */
export function checkMeasurementPolicy(policy: VerifierPolicy, measurementHex: string, imageHashHex: string, legacyImageHashHex?: string): Reason[] {
  const out: Reason[] = [];
  if (policy.allowedMeasurements && !policy.allowedMeasurements.includes(measurementHex.toLowerCase())) {
    out.push(reason('MEASUREMENT_NOT_ALLOWED', `measurement ${measurementHex} is not in the policy's allowedMeasurements`));
  }
  const imageHash = imageHashHex.toLowerCase();
  if (policy.allowedImageHashes && !policy.allowedImageHashes.includes(imageHash)) {
    const legacy = legacyImageHashHex?.toLowerCase();
    const why = legacy && policy.allowedImageHashes.includes(legacy)
      ? `; allowedImageHashes entry ${legacy}: this allow list entry is the pre-0.2 image hash (without the 64 zero report-data bytes); the Cocoon-format hash of this image is ${imageHash}`
      : '';
    out.push(reason('MEASUREMENT_NOT_ALLOWED', `image hash ${imageHash} is not in the policy's allowedImageHashes${why}`));
  }
  return out;
}
