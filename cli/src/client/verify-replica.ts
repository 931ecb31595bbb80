// The client's judgement of a replica, pure: the RA-TLS certificate a TLS peer presented and its answer
// to the client's own nonce, each verified with the project's evidence-bundle verifier (the code the
// attestation service runs, operator/src/attestation/bundle.ts) against an AttestationPolicy. The
// simulated TEE passes only when that policy says allowSimulated and lists its root, exactly as in the
// service. Nothing here does I/O; time, nonce and policy come in as arguments.
//
// A replica is accepted only when all of these hold:
//   1. the certificate is a well-formed RA-TLS certificate: Ed25519 key, self-signed, evidence extension
//      present once, the evidence binds the certificate's own key and answers raTlsNonce(notBefore)
//      (attester/src/gateway/ra-tls-certificate.ts);
//   2. now is within the certificate's validity;
//   3. that evidence verifies under the policy, all but its maxEvidenceAgeSeconds: the certificate's own
//      validity (minutes) bounds how old it is, and the replica chose notBefore, so its age says little;
//   4. the answer to the client's nonce binds the same key, answers that nonce, and verifies under the
//      whole policy, its age measured from when the client drew the nonce: the age limit is met here.
// (Applying the age limit to the certificate would refuse a healthy replica whenever its certificate is
// older than the limit: the chart's default policy allows 300 s, a certificate lives 600 s.)
// The TLS 1.3 handshake proved the peer holds the certificate's private key; (1) and (4) tie that key
// to the TEE the evidence describes, (4) also shows that TEE is alive now. The verdict's claims are those
// of (4): a certificate may leave the GPU reports out (ra-tls-certificate.ts), the answer never does.
import { verifyEvidenceBundle, type BundleClaims, type EvidenceBundle } from '../../../operator/src/attestation/bundle.js';
import type { VerifierPolicy } from '../../../operator/src/attestation/policy.js';
import { reason, reasonFromError, type Reason } from '../../../operator/src/attestation/reasons.js';
import type { SnpClaims } from '../../../operator/src/attestation/sev-snp/verify.js';
import type { TdxCollateral } from '../../../operator/src/attestation/tdx/collateral.js';
import type { TdxClaims } from '../../../operator/src/attestation/tdx/verify.js';
import { evidenceBundleFrom, parseRaTlsCertificate, type RaTlsCertificate } from '../../../attester/src/gateway/ra-tls-certificate.js';

export interface ReplicaCheckOptions {
  /** The AttestationPolicy spec, parsed (parsePolicy). Required: a replica is never judged without one. */
  policy: VerifierPolicy;
  now: Date;
  /** TDX collateral for a TDX replica (Intel PCS TCB info, QE identity, CRLs); absent, a TDX quote fails COLLATERAL_MISSING under a policy that requires collateral. */
  tdxCollateral?: TdxCollateral;
}

/** What the client learnt about the replica. Claims are authenticated only when `verified`. */
export interface ReplicaVerdict {
  verified: boolean;
  reasons: Reason[];
  /** The replica's attested Ed25519 key (hex): the TLS peer's certificate key. */
  publicKey?: string;
  /** The TEE the evidence proves: sev-snp, tdx, or simulated (any part chained to a policy-added root). */
  tee?: 'sev-snp' | 'tdx' | 'simulated';
  measurement?: string;
  imageHash?: string;
  tcbStatus?: string;
  gpus: { model?: string; driverVersion?: string; vbiosVersion?: string; ccMode?: string }[];
  certificate?: { notBefore: string; notAfter: string; fingerprint: string };
  /** Whether the answer to the client's own nonce verified (undefined: not reached). */
  freshEvidence?: boolean;
}

function summarise(claims: BundleClaims): Pick<ReplicaVerdict, 'tee' | 'measurement' | 'imageHash' | 'tcbStatus' | 'gpus'> {
  const cpu = claims.cpu as (SnpClaims & TdxClaims) | undefined;
  const tee = claims.simulated ? 'simulated' : claims.cpuType === 'tdx' ? 'tdx' : claims.cpuType === 'sev-snp' ? 'sev-snp' : undefined;
  return {
    ...(tee ? { tee } : {}),
    ...(cpu?.measurement ? { measurement: cpu.measurement } : {}),
    ...(cpu?.imageHash ? { imageHash: cpu.imageHash } : {}),
    ...(cpu?.tcbStatus ? { tcbStatus: cpu.tcbStatus } : {}),
    gpus: claims.gpus.map((g) => ({
      ...(g.model ? { model: g.model } : {}),
      ...(g.driverVersion ? { driverVersion: g.driverVersion } : {}),
      ...(g.vbiosVersion ? { vbiosVersion: g.vbiosVersion } : {}),
      ...(g.ccMode ? { ccMode: g.ccMode } : {}),
    })),
  };
}

function prefixed(prefix: string, reasons: Reason[]): Reason[] {
  return reasons.map((r) => ({ code: r.code, message: `${prefix}: ${r.message}` }));
}

/** Steps 1–3: the certificate and the evidence it carries (the age limit is step 4's). */
export function checkCertificate(der: Uint8Array, options: ReplicaCheckOptions): { verdict: ReplicaVerdict; certificate?: RaTlsCertificate } {
  let certificate: RaTlsCertificate;
  try {
    certificate = parseRaTlsCertificate(der);
  } catch (err) {
    return { verdict: { verified: false, reasons: [reasonFromError(err)], gpus: [] } };
  }
  const reasons: Reason[] = [];
  const now = options.now.getTime();
  if (now < certificate.notBefore.getTime()) reasons.push(reason('CERT_NOT_YET_VALID', `the RA-TLS certificate is valid from ${certificate.notBefore.toISOString()}; the client's clock says ${options.now.toISOString()}`));
  if (now > certificate.notAfter.getTime()) reasons.push(reason('CERT_EXPIRED', `the RA-TLS certificate expired at ${certificate.notAfter.toISOString()}`));
  const { maxEvidenceAgeSeconds: _ageIsCheckedOnTheFreshAnswer, ...certificatePolicy } = options.policy;
  const result = verifyEvidenceBundle(certificate.evidence, {
    nonce: certificate.nonce,
    policy: certificatePolicy,
    now: options.now,
    nonceIssuedAt: certificate.notBefore,
    ...(options.tdxCollateral ? { tdxCollateral: options.tdxCollateral } : {}),
  });
  reasons.push(...prefixed('certificate evidence', result.reasons));
  return {
    certificate,
    verdict: {
      verified: reasons.length === 0,
      reasons,
      publicKey: certificate.publicKeyHex,
      ...summarise(result.claims),
      certificate: { notBefore: certificate.notBefore.toISOString(), notAfter: certificate.notAfter.toISOString(), fingerprint: certificate.fingerprint },
    },
  };
}

/**
 * Step 4: the replica's answer (the JSON text of GET /.well-known/chrysalis/evidence) to `nonce`, drawn
 * by the client at `nonceIssuedAt`, from the peer whose certificate `certificate` is.
 */
export function checkFreshEvidence(answer: string, nonce: Uint8Array, nonceIssuedAt: Date, certificate: RaTlsCertificate, options: ReplicaCheckOptions): { reasons: Reason[]; claims?: BundleClaims; summary?: ReturnType<typeof summarise> } {
  let bundle: EvidenceBundle;
  try {
    bundle = evidenceBundleFrom(answer);
  } catch (err) {
    return { reasons: [reasonFromError(err)] };
  }
  if (bundle.publicKey.toLowerCase() !== certificate.publicKeyHex) {
    return { reasons: [reason('BINDING_MISMATCH', `fresh evidence: it binds key ${bundle.publicKey.slice(0, 16)}…, not the TLS peer's certificate key ${certificate.publicKeyHex.slice(0, 16)}…`)] };
  }
  const result = verifyEvidenceBundle(bundle, {
    nonce,
    policy: options.policy,
    now: options.now,
    nonceIssuedAt,
    ...(options.tdxCollateral ? { tdxCollateral: options.tdxCollateral } : {}),
  });
  return { reasons: prefixed('fresh evidence', result.reasons), claims: result.claims, summary: summarise(result.claims) };
}

/** The code a refusal is reported under: the first reason's. */
export function refusalCode(verdict: Pick<ReplicaVerdict, 'reasons'>): string {
  return verdict.reasons[0]?.code ?? 'MALFORMED_EVIDENCE';
}
