// Cocoon-style image hashes: one SHA-256 that names "this exact guest image", comparable across
// attestations and publishable in an allow list. TDX: over MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖
// RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3 (all 48-byte registers, in that order). SEV-SNP: over the 48-byte launch
// measurement.
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

export function tdxImageHash(r: TdxImageRegisters): string {
  return toHex(sha256(r.mrTd, r.mrConfigId, r.mrOwner, r.mrOwnerConfig, ...r.rtmrs));
}

export function snpImageHash(measurement: Uint8Array): string {
  return toHex(sha256(measurement));
}

/** Allow-list checks for the launch measurement and the image hash (absent lists allow anything). */
export function checkMeasurementPolicy(policy: VerifierPolicy, measurementHex: string, imageHashHex: string): Reason[] {
  const out: Reason[] = [];
  if (policy.allowedMeasurements && !policy.allowedMeasurements.includes(measurementHex.toLowerCase())) {
    out.push(reason('MEASUREMENT_NOT_ALLOWED', `measurement ${measurementHex} is not in the policy's allowedMeasurements`));
  }
  if (policy.allowedImageHashes && !policy.allowedImageHashes.includes(imageHashHex.toLowerCase())) {
    out.push(reason('MEASUREMENT_NOT_ALLOWED', `image hash ${imageHashHex} is not in the policy's allowedImageHashes`));
  }
  return out;
}
