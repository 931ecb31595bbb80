// The pinned NVIDIA CoRIM signing Root CA, which every NVIDIA RIM signer chains to (SHA-256 of DER from
// test/vectors/nvidia-h100/nvtrust/verifier_RIM_root.pem).
import type { TrustAnchor } from '../chain.js';
import { pinnedAnchor } from '../trust.js';
import { NVIDIA_CORIM_SIGNING_ROOT_PEM } from './roots/nvidia-corim-signing-root.js';

export const NVIDIA_CORIM_SIGNING_ROOT_FINGERPRINT = '12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1';

let anchor: TrustAnchor | undefined;

export function nvidiaRimAnchor(): TrustAnchor {
  anchor ??= pinnedAnchor('NVIDIA CoRIM signing Root CA', NVIDIA_CORIM_SIGNING_ROOT_PEM, NVIDIA_CORIM_SIGNING_ROOT_FINGERPRINT);
  return anchor;
}
