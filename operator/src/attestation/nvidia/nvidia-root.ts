// The pinned NVIDIA Device Identity CA (SHA-256 of DER from test/vectors/nvidia-h100/SOURCE.md).
import type { TrustAnchor } from '../chain.js';
import { pinnedAnchor } from '../trust.js';
import { NVIDIA_DEVICE_IDENTITY_CA_PEM } from './roots/nvidia-device-identity-ca.js';

export const NVIDIA_DEVICE_IDENTITY_CA_FINGERPRINT = '102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48';

let anchor: TrustAnchor | undefined;

export function nvidiaAnchor(): TrustAnchor {
  anchor ??= pinnedAnchor('NVIDIA Device Identity CA', NVIDIA_DEVICE_IDENTITY_CA_PEM, NVIDIA_DEVICE_IDENTITY_CA_FINGERPRINT);
  return anchor;
}
