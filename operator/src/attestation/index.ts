// Public surface of the attestation verifier. Everything here is pure: callers pass bytes, policy, time
// and nonce, and get a verdict `{ verified, claims, reasons }` whose reason codes are stable.
export { REASON_CODES, AttestationError, type Reason, type ReasonCode } from './reasons.js';
export { type Verdict, type EvidenceType } from './verdict.js';
export { type VerifyOptions } from './options.js';
export { parsePolicy, DEFAULT_POLICY, DEFAULT_ACCEPTED_TCB_STATUSES, type VerifierPolicy } from './policy.js';
export { verifyEvidence, type EvidenceInput, type AnyClaims } from './verify.js';
export { verifyEvidenceBundle, type EvidenceBundle, type BundleOptions, type BundleClaims } from './bundle.js';
export { verifySevSnp, verifyAmdSigningCertificate, type SnpEvidence, type SnpClaims } from './sev-snp/verify.js';
export { verifyTdx, type TdxEvidence, type TdxClaims } from './tdx/verify.js';
export { collateralFromFiles, type TdxCollateral } from './tdx/collateral.js';
export { verifyNvidiaGpu, verifyNvidiaGpus, type GpuEvidenceInput, type GpuClaims } from './nvidia/verify.js';
export { expectedReportData } from './freshness.js';
export { snpImageHash, tdxImageHash } from './image-hash.js';
export { decodeCertificates, decodeEvidenceBytes } from './evidence-input.js';
export { SimulatedTee } from './simulated/index.js';
