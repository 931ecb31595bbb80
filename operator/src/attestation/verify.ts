// The verifier's façade: one entry point for every evidence family. Pure: bytes, policy, time and nonce
// in; a verdict out. Never throws; anything unexpected becomes a reason and `verified: false`.
import type { TdxCollateral } from './tdx/collateral.js';
import { verifyNvidiaGpu, type GpuClaims } from './nvidia/verify.js';
import type { VerifyOptions } from './options.js';
import { reasonFromError } from './reasons.js';
import { verifySevSnp, type SnpClaims } from './sev-snp/verify.js';
import { verifyTdx, type TdxClaims } from './tdx/verify.js';
import { verdict, type EvidenceType, type Verdict } from './verdict.js';
import { decodeCertificates } from './evidence-input.js';

export type EvidenceInput =
  | {
      type: 'sev-snp';
      /** Report: raw, hex, base64 or Azure HCL. */
      evidence: Uint8Array | string;
      /** VCEK/VLEK: DER or a PEM bundle (first = signer, others = chain candidates). */
      cert?: Uint8Array | string;
      /** ASK/ASVK (+ARK) PEM bundle or DER; optional since AMD chains ship with the verifier. */
      chain?: Uint8Array | string;
    }
  | { type: 'tdx'; evidence: Uint8Array | string; collateral?: TdxCollateral }
  | { type: 'nvidia-gpu'; evidence: Uint8Array | string; chain: Uint8Array | string | Uint8Array[] };

export type AnyClaims = SnpClaims | TdxClaims | GpuClaims;

export function verifyEvidence(input: EvidenceInput, options: VerifyOptions): Verdict<AnyClaims> {
  const type: EvidenceType = input.type;
  try {
    switch (input.type) {
      case 'sev-snp': {
        const snp: Parameters<typeof verifySevSnp>[0] = { report: input.evidence };
        if (input.cert !== undefined) snp.certificates = decodeCertificates(input.cert, 'VCEK/VLEK certificate');
        if (input.chain !== undefined) snp.chain = decodeCertificates(input.chain, 'ASK/ARK chain');
        return verifySevSnp(snp, options);
      }
      case 'tdx':
        return verifyTdx(input.collateral ? { quote: input.evidence, collateral: input.collateral } : { quote: input.evidence }, options);
      case 'nvidia-gpu':
        return verifyNvidiaGpu({ evidence: input.evidence, chain: input.chain }, options);
      default:
        return verdict(type, {}, [{ code: 'MALFORMED_EVIDENCE', message: `unknown evidence type "${String((input as { type: unknown }).type)}"` }]);
    }
  } catch (err) {
    return verdict(type, {}, [reasonFromError(err)]);
  }
}
