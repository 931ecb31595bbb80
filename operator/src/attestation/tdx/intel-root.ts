// The pinned Intel SGX Root CA: anchor of PCK certificate chains and of the TCB-signing chain that signs
// TCB info and QE identity (SHA-256 of DER from test/vectors/tdx/SOURCE.md).
import type { TrustAnchor } from '../chain.js';
import { pinnedAnchor } from '../trust.js';
import { INTEL_SGX_ROOT_CA_PEM } from './roots/intel-sgx-root-ca.js';

export const INTEL_SGX_ROOT_CA_FINGERPRINT = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

let anchor: TrustAnchor | undefined;

export function intelAnchor(): TrustAnchor {
  anchor ??= pinnedAnchor('Intel SGX Root CA', INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_FINGERPRINT);
  return anchor;
}
