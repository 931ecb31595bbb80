// SEV-SNP verification: parse the report (raw, hex or inside an Azure HCL wrapper),
// chain the VCEK/VLEK to a pinned ARK, check the certificate belongs to this report (key type, chip id,
// SPLs = reported_tcb, generation), verify the ECDSA P-384 signature over bytes [0, 0x2A0), then
// freshness, binding and policy. Checks about content run only once the content is authenticated.
import { verify as verifySignature } from 'node:crypto';
import { bytesEqual, toHex } from '../bytes.js';
import { verifyChain, type ChainResult } from '../chain.js';
import { decodeEvidenceBytes } from '../evidence-input.js';
import { checkEvidenceAge, checkReportData } from '../freshness.js';
import { checkMeasurementPolicy, snpImageHash } from '../image-hash.js';
import type { VerifyOptions } from '../options.js';
import { checkHostDataPolicy, DEFAULT_POLICY, type VerifierPolicy } from '../policy.js';
import { reason, reasonFromError, type Reason } from '../reasons.js';
import { policyAnchors, simulatedAnchorReasons } from '../trust.js';
import { verdict, type Verdict } from '../verdict.js';
import { parseCertificate, type ParsedCertificate } from '../x509.js';
import { amdAnchors, amdIntermediates, type AmdAnchor } from './amd-roots.js';
import { hclBindingHolds, isHclReport, parseHclReport, type HclReport } from './hcl.js';
import { parseSnpReport, policyBit, POLICY_BITS, SIG_ALGO_ECDSA_P384_SHA384, SNP_REPORT_SIZE, type SnpReport } from './report.js';
import { decodeTcb, generationFromCpuid, generationFromProductName, type Generation, type SnpTcb } from './tcb.js';
import { snpRevocationReasons } from './revocation.js';
import { readAmdKeyCertificate, type AmdKeyCertificate } from './vcek.js';

export interface SnpEvidence {
  /** The report: 1184 raw bytes, hex/base64 text, or an Azure HCL report. */
  report: Uint8Array | string;
  /** DER certificates; the first is the VCEK or VLEK, any others are extra chain candidates (e.g. Azure's bundle). */
  certificates?: Uint8Array[];
  /** DER ASK/ASVK (and ARK): when given, only these intermediates are used instead of the built-in ones. */
  chain?: Uint8Array[];
}

export interface SnpClaims {
  version?: number;
  generation?: Generation;
  signingKey?: 'vcek' | 'vlek' | 'none';
  measurement?: string;
  imageHash?: string;
  reportData?: string;
  hostData?: string;
  chipId?: string;
  reportId?: string;
  idKeyDigest?: string;
  policy?: string;
  debug?: boolean;
  migrationAgent?: boolean;
  smt?: boolean;
  vmpl?: number;
  guestSvn?: number;
  platformInfo?: string;
  /** reported_tcb decoded for the generation (the TCB the VCEK certifies). */
  tcb?: SnpTcb;
  currentTcb?: string;
  committedTcb?: string;
  launchTcb?: string;
  cpuid?: { family: number; model: number; stepping: number };
  azureHcl?: boolean;
  /** Issuer of the signing key: "ARK-Milan", or a policy root for the simulated TEE. */
  root?: string;
  simulated?: boolean;
}

function reportClaims(report: SnpReport, generation: Generation | undefined): SnpClaims {
  const claims: SnpClaims = {
    version: report.version,
    signingKey: report.signingKey,
    measurement: toHex(report.measurement),
    imageHash: snpImageHash(report.measurement),
    reportData: toHex(report.reportData),
    hostData: toHex(report.hostData),
    chipId: toHex(report.chipId),
    reportId: toHex(report.reportId),
    idKeyDigest: toHex(report.idKeyDigest),
    policy: `0x${report.policy.toString(16)}`,
    debug: policyBit(report.policy, POLICY_BITS.DEBUG),
    migrationAgent: policyBit(report.policy, POLICY_BITS.MIGRATE_MA),
    smt: policyBit(report.policy, POLICY_BITS.SMT),
    vmpl: report.vmpl,
    guestSvn: report.guestSvn,
    platformInfo: `0x${report.platformInfo.toString(16)}`,
    currentTcb: toHex(report.currentTcb),
    committedTcb: toHex(report.committedTcb),
    launchTcb: toHex(report.launchTcb),
  };
  if (report.cpuid) claims.cpuid = report.cpuid;
  if (generation) {
    claims.generation = generation;
    claims.tcb = decodeTcb(report.reportedTcb, generation);
  } else {
    claims.tcb = { raw: toHex(report.reportedTcb) } as SnpTcb;
  }
  return claims;
}

/** Does the signing certificate belong to this report? (VCEK spec: hwID = chip_id, SPLs = reported_tcb.) */
function certificateMatchesReport(report: SnpReport, key: AmdKeyCertificate, generation: Generation | undefined): Reason[] {
  const out: Reason[] = [];
  if (report.signingKey !== key.kind) {
    out.push(reason('CERT_MISMATCH', `report says it is signed by the ${report.signingKey.toUpperCase()} but the certificate is a ${key.kind.toUpperCase()}`));
  }
  if (key.kind === 'vcek') {
    if (!key.hwId) out.push(reason('CERT_MISMATCH', 'VCEK certificate has no hwID extension'));
    else if (!report.maskChipId && !bytesEqual(key.hwId, report.chipId.subarray(0, key.hwId.length))) {
      out.push(reason('CERT_MISMATCH', `VCEK hwID ${toHex(key.hwId).slice(0, 16)}… is not the report's chip_id ${toHex(report.chipId).slice(0, 16)}…`));
    }
  }
  if (generation) {
    const tcb = decodeTcb(report.reportedTcb, generation);
    const pairs: [string, number, number | undefined][] = [
      ['bootloader', key.spl.bootloader, tcb.bootloader],
      ['tee', key.spl.tee, tcb.tee],
      ['snp', key.spl.snp, tcb.snp],
      ['microcode', key.spl.microcode, tcb.microcode],
    ];
    if (generation === 'Turin') pairs.push(['fmc', key.spl.fmc ?? -1, tcb.fmc]);
    for (const [name, certValue, reportValue] of pairs) {
      if (certValue !== reportValue) out.push(reason('CERT_MISMATCH', `certificate ${name} SPL ${certValue} differs from the report's reported_tcb ${name} ${reportValue}`));
    }
    const productGeneration = generationFromProductName(key.productName);
    if (productGeneration && productGeneration !== generation) {
      out.push(reason('CERT_MISMATCH', `certificate productName "${key.productName}" is not a ${generation} part`));
    }
    const cpuGeneration = report.cpuid && report.cpuid.family !== 0 ? generationFromCpuid(report.cpuid.family, report.cpuid.model) : undefined;
    if (cpuGeneration && cpuGeneration !== generation) {
      out.push(reason('CERT_MISMATCH', `report CPUID (family 0x${report.cpuid!.family.toString(16)}, model 0x${report.cpuid!.model.toString(16)}) is ${cpuGeneration}, the certificate chain is ${generation}`));
    }
  } else {
    out.push(reason('CERT_MISMATCH', 'cannot tell the processor generation from the certificate chain or productName'));
  }
  return out;
}

function guestPolicyReasons(report: SnpReport, policy: VerifierPolicy): Reason[] {
  const out: Reason[] = [];
  if (policyBit(report.policy, POLICY_BITS.DEBUG) && policy.debugAllowed !== true) {
    out.push(reason('DEBUG_ENABLED', `guest policy 0x${report.policy.toString(16)} allows debugging (bit 19) and the verifier policy forbids it`));
  }
  if (policyBit(report.policy, POLICY_BITS.MIGRATE_MA) && policy.migrationAgentAllowed !== true) {
    out.push(reason('GUEST_POLICY_FORBIDDEN', 'guest policy allows a migration agent (bit 18) and the verifier policy forbids it'));
  }
  if (policyBit(report.policy, POLICY_BITS.SMT) && policy.smtAllowed === false) {
    out.push(reason('GUEST_POLICY_FORBIDDEN', 'guest policy allows SMT (bit 16) and the verifier policy forbids it'));
  }
  if (policy.allowedVmpls && !policy.allowedVmpls.includes(report.vmpl)) {
    out.push(reason('GUEST_POLICY_FORBIDDEN', `VMPL ${report.vmpl} is not in the policy's allowedVmpls [${policy.allowedVmpls.join(', ')}]`));
  }
  return out;
}

function minimumTcbReasons(report: SnpReport, tcb: SnpTcb, policy: VerifierPolicy): Reason[] {
  const min = policy.minimumTcb;
  if (!min) return [];
  const out: Reason[] = [];
  const check = (name: string, actual: number | undefined, minimum: number | undefined): void => {
    if (minimum === undefined) return;
    if (actual === undefined || actual < minimum) out.push(reason('TCB_TOO_LOW', `${name} ${actual ?? 'unknown'} is below the policy minimum ${minimum}`));
  };
  check('bootloader SPL', tcb.bootloader, min.bootloader);
  check('TEE SPL', tcb.tee, min.tee);
  check('SNP firmware SPL', tcb.snp, min.snp);
  check('microcode SPL', tcb.microcode, min.microcode);
  if (min.fmc !== undefined) check('FMC SPL', tcb.fmc, min.fmc);
  check('guest SVN', report.guestSvn, min.guestSvn);
  return out;
}

export interface SnpVerifyOptions extends VerifyOptions {
  /**
   * AMD CRLs (DER) to judge the chain by (revocation.ts). Given (even empty), the ARK's CRL is required;
   * absent, revocation is not checked (the offline verifier without collateral).
   */
  amdCrls?: readonly Uint8Array[];
}

export function verifySevSnp(evidence: SnpEvidence, options: SnpVerifyOptions): Verdict<SnpClaims> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const reasons: Reason[] = [];
  let claims: SnpClaims = {};
  try {
    const anchors = [...amdAnchors(), ...policyAnchors(policy)];
    const bytes = decodeEvidenceBytes(evidence.report, (b) => b.length === SNP_REPORT_SIZE || isHclReport(b));
    let hcl: HclReport | undefined;
    if (isHclReport(bytes)) hcl = parseHclReport(bytes);
    const report = parseSnpReport(hcl ? hcl.report : bytes);
    claims = reportClaims(report, undefined);
    if (hcl) claims.azureHcl = true;

    const certs = evidence.certificates ?? [];
    if (certs.length === 0) {
      return verdict('sev-snp', claims, [reason('COLLATERAL_MISSING', 'SEV-SNP evidence needs the VCEK or VLEK certificate (--cert); the verifier does no network fetches')]);
    }
    const leaf = parseCertificate(certs[0]!);
    const extra = certs.slice(1).map(parseCertificate);
    const intermediates: ParsedCertificate[] = evidence.chain ? [...evidence.chain.map(parseCertificate), ...extra] : [...extra, ...amdIntermediates()];
    const chain: ChainResult = verifyChain(leaf, intermediates, anchors, options.now);
    reasons.push(...chain.reasons);

    const key = readAmdKeyCertificate(leaf);
    const anchorGeneration = chain.ok ? (chain.anchor as Partial<AmdAnchor>).generation : undefined;
    const generation = anchorGeneration ?? generationFromProductName(key.productName);
    claims = { ...reportClaims(report, generation), ...(hcl ? { azureHcl: true } : {}) };
    if (chain.ok) {
      claims.root = chain.anchor.name;
      claims.simulated = chain.anchor.simulated;
      reasons.push(...simulatedAnchorReasons(chain.anchor, policy));
      if (options.amdCrls) reasons.push(...snpRevocationReasons(chain.path, options.amdCrls, options.now));
    }

    // The signature is checked even when the chain failed, so a report that is both badly chained and
    // tampered with says so.
    let signatureOk = false;
    if (report.signingKey === 'none') {
      reasons.push(reason('SIGNATURE_INVALID', 'report flags say the report is not signed (signing_key = 7)'));
    } else if (report.signatureAlgo !== SIG_ALGO_ECDSA_P384_SHA384) {
      reasons.push(reason('SIGNATURE_INVALID', `signature_algo ${report.signatureAlgo} is not ECDSA P-384/SHA-384 (1)`));
    } else if (!report.signatureHighBytesZero) {
      reasons.push(reason('SIGNATURE_INVALID', 'signature r/s have non-zero bytes above 384 bits'));
    } else {
      signatureOk = verifySignature('sha384', report.signedBytes, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, report.signatureP1363);
      if (!signatureOk) reasons.push(reason('SIGNATURE_INVALID', `report signature does not verify with the ${key.kind.toUpperCase()} key`));
    }

    // Wrong chip, wrong TCB or wrong key type: reported after the signature, which usually fails too.
    if (chain.ok) reasons.push(...certificateMatchesReport(report, key, generation));

    if (chain.ok && signatureOk && reasons.length === 0) {
      // From here on the report content is authentic: freshness, binding and policy.
      if (hcl && !hclBindingHolds(hcl, report.reportData)) {
        reasons.push(reason('BINDING_MISMATCH', 'Azure HCL: report_data does not commit to the runtime claims (SHA-256)'));
      }
      reasons.push(...checkReportData(report.reportData, options));
      reasons.push(...checkEvidenceAge(policy, options.now, options.nonceIssuedAt));
      reasons.push(...guestPolicyReasons(report, policy));
      if (claims.tcb) reasons.push(...minimumTcbReasons(report, claims.tcb, policy));
      reasons.push(...checkMeasurementPolicy(policy, claims.measurement!, claims.imageHash!));
      reasons.push(...checkHostDataPolicy(policy, claims.hostData));
    }
  } catch (err) {
    reasons.push(reasonFromError(err));
  }
  if (reasons.length === 0 && !claims.measurement) reasons.push(reason('MALFORMED_EVIDENCE', 'no report was verified'));
  return verdict('sev-snp', claims, reasons);
}


/**
 * Chain-only check of a VCEK/VLEK (no report): the certificate chains to a pinned ARK at `now`. Useful
 * when a host registers its certificate ahead of evidence, and for certificates without a report.
 */
export function verifyAmdSigningCertificate(
  certificate: Uint8Array,
  options: { now: Date; chain?: Uint8Array[]; policy?: VerifierPolicy },
): Verdict<{ generation?: Generation; kind?: 'vcek' | 'vlek'; hwId?: string; productName?: string; root?: string }> {
  const claims: { generation?: Generation; kind?: 'vcek' | 'vlek'; hwId?: string; productName?: string; root?: string } = {};
  const reasons: Reason[] = [];
  try {
    const policy = options.policy ?? DEFAULT_POLICY;
    const leaf = parseCertificate(certificate);
    const key = readAmdKeyCertificate(leaf);
    claims.kind = key.kind;
    if (key.hwId) claims.hwId = toHex(key.hwId);
    if (key.productName) claims.productName = key.productName;
    const intermediates = options.chain ? options.chain.map(parseCertificate) : amdIntermediates();
    const chain = verifyChain(leaf, intermediates, [...amdAnchors(), ...policyAnchors(policy)], options.now);
    reasons.push(...chain.reasons);
    if (chain.ok) {
      claims.root = chain.anchor.name;
      const generation = (chain.anchor as Partial<AmdAnchor>).generation;
      if (generation) claims.generation = generation;
      reasons.push(...simulatedAnchorReasons(chain.anchor, policy));
    }
  } catch (err) {
    reasons.push(reasonFromError(err));
  }
  return verdict('sev-snp', claims, reasons);
}
