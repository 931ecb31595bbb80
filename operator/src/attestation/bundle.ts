// A node's or replica's evidence bundle, verified as a whole: the CPU report must
// carry report_data = SHA-512(nonce ‖ Ed25519 public key), and every GPU report must carry
// SHA-256("chrysalis-gpu" ‖ nonce ‖ public key) as its SPDM request nonce (freshness.ts gpuNonceFor: GPU
// evidence answered for another challenge or another CPU key does not fit). The input is the attestation service's wire shape (JSON, base64 binaries),
// so the service and the attester share it.
import { fromHex } from './bytes.js';
import { decodeCertificates } from './evidence-input.js';
import { declaredVsProven, type DeclaredNode } from './declared-vs-proven.js';
import { gpuNonceFor } from './freshness.js';
import { verifyNvidiaGpus, type GpuClaims } from './nvidia/verify.js';
import type { VerifyOptions } from './options.js';
import { AttestationError, reason, reasonFromError, type Reason } from './reasons.js';
import type { CpuEvidence, GpuEvidence } from './service/protocol.js';
import { verifySevSnp, type SnpClaims } from './sev-snp/verify.js';
import type { TdxCollateral } from './tdx/collateral.js';
import { verifyTdx, type TdxClaims } from './tdx/verify.js';
import { verdict, type Verdict } from './verdict.js';

export type { CpuEvidence, GpuEvidence };

/** JSON-serialisable: what an attester sends (EvidenceRequest without the subject). */
export interface EvidenceBundle {
  /** The challenge nonce the attester answered (hex); must equal the verifier's. */
  nonce?: string;
  /** Ed25519 public key, 32 bytes hex, bound into report_data. */
  publicKey: string;
  cpu: CpuEvidence;
  gpus: GpuEvidence[];
}

export interface BundleOptions extends Omit<VerifyOptions, 'publicKey' | 'nonce'> {
  /** The nonce the verifier issued (32 bytes). Required: a bundle is always a challenge response. */
  nonce: Uint8Array;
  /** TDX collateral (the operator caches it from Intel PCS). */
  tdxCollateral?: TdxCollateral;
  /** AMD CRLs for sev-snp evidence (sev-snp/revocation.ts); given, the ARK's is required. Not applied to simulated evidence. */
  amdCrls?: readonly Uint8Array[];
  /**
   * NVIDIA driver and VBIOS RIMs (signed SWID XML) to compare every GPU's measurements with. Given, each
   * GPU needs verified RIMs for its versions (COLLATERAL_MISSING otherwise); absent, the GPUs' claims say
   * referenceValues.checked = false. The collateral source supplies them; the verifier fetches nothing.
   */
  gpuRims?: (Uint8Array | string)[];
  /**
   * OCSP responses (DER) for the GPU device chains' and RIM signing chains' certificates
   * (nvidia/revocation.ts). Given, each needs a current good status (CERT_REVOKED, COLLATERAL_MISSING,
   * COLLATERAL_INVALID otherwise); absent, certificate status is not checked.
   */
  gpuOcspResponses?: Uint8Array[];
  /** How many GPUs the node must prove (ProviderNode spec); absent = as many as sent, zero allowed. */
  expectedGpuCount?: number;
  /**
   * The ProviderNode's spec.tee and spec.gpus: when given, what the evidence proves must match it
   * (declared-vs-proven.ts, DECLARED_MISMATCH). Node evidence only; a replica declares nothing.
   */
  declared?: DeclaredNode;
}

export interface BundleClaims {
  cpuType?: CpuEvidence['type'];
  cpu?: SnpClaims | TdxClaims;
  gpus: GpuClaims[];
  publicKey?: string;
  /** True when any part chained to a policy-added (simulated) root. */
  simulated: boolean;
}

const GPU_NONCE_RULE = 'a GPU in a bundle signs SHA-256("chrysalis-gpu" ‖ challenge nonce ‖ public key): GPU evidence answered for another challenge or another CPU key does not fit';

function base64(value: string, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s+/g, ''))) {
    throw new AttestationError('MALFORMED_EVIDENCE', `${what} is not base64`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function prefixed(prefix: string, reasons: Reason[]): Reason[] {
  return reasons.map((r) => ({ code: r.code, message: `${prefix}: ${r.message}` }));
}

export function verifyEvidenceBundle(bundle: EvidenceBundle, options: BundleOptions): Verdict<BundleClaims> {
  const claims: BundleClaims = { gpus: [], simulated: false };
  const reasons: Reason[] = [];
  try {
    if (options.nonce.length !== 32) return verdict('bundle', claims, [reason('NONCE_MISMATCH', 'the verifier nonce must be 32 bytes')]);
    if (bundle.nonce !== undefined && bundle.nonce.toLowerCase() !== Buffer.from(options.nonce).toString('hex')) {
      return verdict('bundle', claims, [reason('NONCE_MISMATCH', 'the bundle answers a different challenge nonce')]);
    }
    const publicKey = fromHex(bundle.publicKey ?? '', 'publicKey');
    if (publicKey.length !== 32) return verdict('bundle', claims, [reason('MALFORMED_EVIDENCE', 'publicKey must be a 32-byte Ed25519 key (hex)')]);
    claims.publicKey = bundle.publicKey.toLowerCase();
    // A caller that found no AttestationPolicy must not get the empty one: the checks still run (so
    // every other reason is reported) but the bundle can never be verified.
    if (options.policy === undefined) {
      reasons.push(reason('POLICY_NOT_FOUND', 'no AttestationPolicy was given: node and replica evidence is never verified without one'));
    }
    const common: VerifyOptions = { ...options, nonce: options.nonce, publicKey };

    const cpu = bundle.cpu;
    claims.cpuType = cpu?.type;
    if (cpu?.type === 'sev-snp' || cpu?.type === 'simulated') {
      const v = verifySevSnp(
        {
          report: base64(cpu.report, 'cpu.report'),
          certificates: cpu.vcek ? [base64(cpu.vcek, 'cpu.vcek')] : [],
          ...(cpu.chain ? { chain: decodeCertificates(cpu.chain, 'cpu.chain') } : {}),
        },
        cpu.type === 'sev-snp' && options.amdCrls ? { ...common, amdCrls: options.amdCrls } : common,
      );
      claims.cpu = v.claims;
      claims.simulated ||= v.claims.simulated === true;
      reasons.push(...prefixed('CPU', v.reasons));
    } else if (cpu?.type === 'tdx') {
      const v = verifyTdx({ quote: base64(cpu.quote, 'cpu.quote'), ...(options.tdxCollateral ? { collateral: options.tdxCollateral } : {}) }, common);
      claims.cpu = v.claims;
      claims.simulated ||= v.claims.simulated === true;
      reasons.push(...prefixed('CPU', v.reasons));
    } else {
      reasons.push(reason('MALFORMED_EVIDENCE', `CPU evidence type "${String((cpu as { type?: unknown } | undefined)?.type)}" is not sev-snp, tdx or simulated`));
    }

    const gpus = Array.isArray(bundle.gpus) ? bundle.gpus : [];
    if (options.expectedGpuCount !== undefined && gpus.length !== options.expectedGpuCount) {
      reasons.push(reason('MALFORMED_EVIDENCE', `the bundle has ${gpus.length} GPU report(s); the node must prove ${options.expectedGpuCount}`));
    }
    if (gpus.length > 0) {
      const v = verifyNvidiaGpus(
        gpus.map((g) => ({ evidence: base64(g.report, 'gpus[].report'), chain: g.certChain })),
        { ...options, nonce: gpuNonceFor(options.nonce, publicKey), ...(options.gpuRims ? { rims: options.gpuRims } : {}), ...(options.gpuOcspResponses ? { ocspResponses: options.gpuOcspResponses } : {}) },
      );
      claims.gpus = v.claims.gpus;
      claims.simulated ||= v.claims.gpus.some((g) => g.simulated === true);
      // A GPU whose SPDM nonce is not the derived one is evidence made for another challenge or another
      // CPU key: a binding failure, like a CPU report_data that does not bind the key.
      reasons.push(...v.reasons.map((r) => (r.code === 'NONCE_MISMATCH' ? reason('BINDING_MISMATCH', `${r.message} (${GPU_NONCE_RULE})`) : r)));
    }
    // Only once the evidence itself verified: a declaration is compared with proven facts, not with claims.
    if (options.declared !== undefined && reasons.length === 0) reasons.push(...declaredVsProven(options.declared, claims));
  } catch (err) {
    reasons.push(reasonFromError(err));
  }
  return verdict('bundle', claims, reasons);
}
