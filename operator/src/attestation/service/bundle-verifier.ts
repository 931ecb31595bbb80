// The service's verifier: the project's pure evidence-bundle verifier with the subject's AttestationPolicy.
// A policy that does not parse is a rejection (POLICY_INVALID), and so is none at all (POLICY_NOT_FOUND):
// never a fallback to defaults.
import { verifyEvidenceBundle } from '../bundle.js';
import { parsePolicy } from '../policy.js';
import { AttestationError } from '../reasons.js';
import type { SnpClaims } from '../sev-snp/verify.js';
import type { TdxClaims } from '../tdx/verify.js';
import type { OcspCache } from '../collateral/ocsp-cache.js';
import type { SnpVcekCache } from '../collateral/snp-cache.js';
import type { TdxCollateralCache } from '../collateral/tdx-cache.js';
import type { TdxCollateral } from '../tdx/collateral.js';
import type { EvidenceRequest } from './protocol.js';
import type { AttestationClaims, EvidenceVerifier, VerifyOutcome } from './service.js';

type VerifierContext = Parameters<EvidenceVerifier>[1];

export const verifyWithPolicy: EvidenceVerifier = (request, context): VerifyOutcome => verifyBundle(request, context, undefined);

/**
 * The verifier with collateral sources (collateral/): a TDX quote is verified with the collateral the
 * cache holds or fetches for it, and an SEV-SNP report sent without its VCEK with the one the cache holds
 * or fetches (a VCEK the evidence carries is used as sent). Either is judged by the verifier like any
 * other. Without them a TDX quote fails COLLATERAL_MISSING under a policy that requires collateral, and
 * so does a report without its VCEK.
 */
export function verifierWithCollateral(sources: {
  tdx?: Pick<TdxCollateralCache, 'collateralFor'>;
  snp?: Pick<SnpVcekCache, 'vcekFor'> & Partial<Pick<SnpVcekCache, 'crlsFor' | 'checksCrls'>>;
  /** With checksOcsp, every GPU report's NVIDIA certificates are judged by the OCSP responses it holds or fetches. */
  nvidia?: Pick<OcspCache, 'responsesFor' | 'checksOcsp'>;
}): EvidenceVerifier {
  return async (request, context) => {
    const cpu = request.cpu;
    let collateral: TdxCollateral | undefined;
    let amdCrls: Uint8Array[] | undefined;
    let withCertificate = request;
    if (cpu?.type === 'tdx' && typeof cpu.quote === 'string' && sources.tdx) collateral = await sources.tdx.collateralFor(cpu.quote, context.now);
    if (cpu?.type === 'sev-snp' && typeof cpu.report === 'string' && sources.snp) {
      let vcek = cpu.vcek;
      if (!vcek) {
        const fetched = await sources.snp.vcekFor(cpu.report, context.now);
        if (fetched) vcek = Buffer.from(fetched).toString('base64');
        if (vcek) withCertificate = { ...request, cpu: { ...cpu, vcek } };
      }
      // The ARK's CRL, once there is a certificate to judge (without one the report fails COLLATERAL_MISSING anyway).
      if (vcek && sources.snp.checksCrls && sources.snp.crlsFor) amdCrls = await sources.snp.crlsFor(cpu.report, context.now);
    }
    let gpuOcsp: Uint8Array[] | undefined;
    if (sources.nvidia?.checksOcsp && Array.isArray(request.gpus) && request.gpus.length > 0) {
      gpuOcsp = await sources.nvidia.responsesFor(request.gpus.map((g) => g.certChain).filter((c): c is string => typeof c === 'string'), context.now);
    }
    return verifyBundle(withCertificate, context, collateral, amdCrls, gpuOcsp);
  };
}

function verifyBundle(request: EvidenceRequest, { policy, now, nonceIssuedAt, declared }: VerifierContext, tdxCollateral: TdxCollateral | undefined, amdCrls?: Uint8Array[], gpuOcsp?: Uint8Array[]): VerifyOutcome {
  let parsed;
  try {
    // parsePolicy refuses a missing policy (POLICY_NOT_FOUND), whatever a caller passes.
    parsed = parsePolicy(policy);
  } catch (err) {
    const code = err instanceof AttestationError ? err.code : 'POLICY_INVALID';
    return { verified: false, reasons: [{ code, message: err instanceof Error ? err.message : String(err) }], claims: { simulated: false, gpus: [] } };
  }
  const result = verifyEvidenceBundle(
    { nonce: request.nonce, publicKey: request.publicKey, cpu: request.cpu, gpus: request.gpus },
    { nonce: new Uint8Array(Buffer.from(request.nonce, 'hex')), policy: parsed, now, nonceIssuedAt, ...(declared ? { declared } : {}), ...(tdxCollateral ? { tdxCollateral } : {}), ...(amdCrls ? { amdCrls } : {}), ...(gpuOcsp ? { gpuOcspResponses: gpuOcsp } : {}) },
  );
  const cpu = result.claims.cpu as (SnpClaims & TdxClaims) | undefined;
  const claims: AttestationClaims = {
    simulated: result.claims.simulated,
    ...(cpu?.measurement ? { measurement: cpu.measurement } : {}),
    ...(cpu?.imageHash ? { imageHash: cpu.imageHash } : {}),
    // The chip identity: SEV-SNP CHIP_ID, or the TDX PCK certificate's PPID (replica-topology.ts compares it).
    ...(cpu?.chipId ? { chipId: cpu.chipId } : cpu?.deviceId ? { chipId: cpu.deviceId.toLowerCase() } : {}),
    ...(cpu?.tcbStatus ? { tcbStatus: cpu.tcbStatus } : {}),
    ...(cpu?.tcb && typeof cpu.tcb === 'object' ? { tcb: { bootloader: cpu.tcb.bootloader, tee: cpu.tcb.tee, snp: cpu.tcb.snp, microcode: cpu.tcb.microcode } } : {}),
    gpus: result.claims.gpus.map((g, index) => ({
      index: request.gpus[index]?.index ?? index,
      // The model the GPU's signed fields prove (nvidia/), never assumed.
      ...(g.model ? { model: g.model } : {}),
      ...(g.driverVersion ? { driverVersion: g.driverVersion } : {}),
      ...(g.vbiosVersion ? { vbiosVersion: g.vbiosVersion } : {}),
      ...(g.deviceId ? { deviceId: g.deviceId } : {}),
      ...(g.ccMode && g.ccMode !== 'unknown' ? { ccMode: g.ccMode } : {}),
    })),
  };
  return { verified: result.verified, reasons: result.reasons, claims };
}
