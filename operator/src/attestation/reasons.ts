// Stable reason codes for every way evidence can fail verification, and the typed error that parsers
// throw. Codes are part of the public contract (CLI JSON, ProviderNode conditions, scripts): add new
// ones, never rename or reuse one.

export const REASON_CODES = [
  /** The evidence (or a certificate / collateral file inside it) cannot be parsed. */
  'MALFORMED_EVIDENCE',
  /** A signature over the evidence, a certificate, a CRL or collateral does not verify. */
  'SIGNATURE_INVALID',
  /** No path from the signing certificate to a pinned (or policy-added) root. */
  'CHAIN_UNTRUSTED',
  /** A certificate in the chain is past its notAfter at the verification time. */
  'CERT_EXPIRED',
  /** A certificate in the chain is before its notBefore at the verification time. */
  'CERT_NOT_YET_VALID',
  /** A certificate in the chain is listed in a CRL from its issuer. */
  'CERT_REVOKED',
  /** The certificate chains correctly but does not belong to this report (chip id, TCB, key type, FWID). */
  'CERT_MISMATCH',
  /** The report's freshness field does not carry the caller's nonce. */
  'NONCE_MISMATCH',
  /** report_data does not equal SHA-512(nonce ‖ public key), or a wrapper's hash binding fails. */
  'BINDING_MISMATCH',
  /** The guest/TD runs with debugging enabled and the policy forbids it. */
  'DEBUG_ENABLED',
  /** A guest policy bit the verifier policy forbids (migration agent, SMT) or a forbidden VMPL. */
  'GUEST_POLICY_FORBIDDEN',
  /** A TCB component is below the policy's minimum. */
  'TCB_TOO_LOW',
  /** The TDX TCB status computed from collateral is not acceptable (Revoked, unknown, or policy-excluded). */
  'TCB_STATUS_UNACCEPTABLE',
  /** Measurement or Cocoon image hash not in the policy's allow list. */
  'MEASUREMENT_NOT_ALLOWED',
  /** GPU driver or VBIOS version not in the policy's allow list. */
  'VERSION_NOT_ALLOWED',
  /** The GPU evidence does not show confidential-computing mode and the policy requires it. */
  'GPU_CC_DISABLED',
  /** The evidence is older than the policy's maximum age, or its age cannot be established. */
  'EVIDENCE_TOO_OLD',
  /** Verification needs collateral (TDX TCB info / QE identity / CRLs, SNP VCEK) that was not supplied. */
  'COLLATERAL_MISSING',
  /** Collateral was supplied but is stale, badly signed or inconsistent. */
  'COLLATERAL_INVALID',
  /** The TDX quoting enclave does not match Intel's QE identity. */
  'QE_IDENTITY_MISMATCH',
  /** The evidence chains to a simulated (policy-added) root but the policy does not allow simulated TEEs. */
  'SIMULATED_NOT_ALLOWED',
  /** The same GPU appears twice in a multi-GPU evidence set. */
  'DUPLICATE_DEVICE',
  /** The verifier policy itself is unusable. */
  'POLICY_INVALID',
  /** No policy was given, or the AttestationPolicy named does not exist: nothing is accepted without one. */
  'POLICY_NOT_FOUND',
  /** SEV-SNP HOST_DATA (e.g. the Kata initdata / agent policy digest) not in the policy's allow list. */
  'HOST_DATA_NOT_ALLOWED',
  /** A GPU measurement equals none of the reference values NVIDIA's signed RIM gives for its index. */
  'REFERENCE_MISMATCH',
  /** What the ProviderNode declares (TEE type, GPU model or count) differs from what the evidence proves. */
  'DECLARED_MISMATCH',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  code: ReasonCode;
  message: string;
}

export function reason(code: ReasonCode, message: string): Reason {
  return { code, message };
}

/**
 * The one error type parsers throw. The verifiers catch it (and anything else) and turn it into a
 * reason, so no exception ever escapes a verification and nothing unexpected becomes "verified".
 */
export class AttestationError extends Error {
  readonly code: ReasonCode;
  constructor(code: ReasonCode, message: string) {
    super(message);
    this.name = 'AttestationError';
    this.code = code;
  }
}

export function isReasonCode(value: unknown): value is ReasonCode {
  return typeof value === 'string' && (REASON_CODES as readonly string[]).includes(value);
}

/** Turns anything thrown during verification into a reason (fail closed). */
export function reasonFromError(err: unknown, fallback: ReasonCode = 'MALFORMED_EVIDENCE'): Reason {
  if (err instanceof AttestationError) return reason(err.code, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return reason(fallback, `unexpected error during verification: ${message}`);
}
