// TDX verification: the quote's ECDSA P-256 signature by the attestation key (AK);
// the QE report signed by the PCK leaf; the QE report_data binding SHA-256(AK ‖ QE auth data); the PCK
// chain to the pinned Intel SGX Root CA and the CRLs; TCB info and QE identity signed (over their raw
// JSON text) by the TCB-signing chain to the same root; the TCB status from the SVNs; then freshness
// and policy. Collateral is required by default: without it TDX evidence is "not attested".
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { bytesEqual, concatBytes, isAllZero, sha256, toHex } from '../bytes.js';
import { verifyChain, type TrustAnchor } from '../chain.js';
import { crlIssuedBy, isRevoked, newestCrlOf, parseCrl, type ParsedCrl } from '../crl.js';
import { decodeCertificates, decodeEvidenceBytes } from '../evidence-input.js';
import { checkEvidenceAge, checkReportData } from '../freshness.js';
import { checkMeasurementPolicy, legacyTdxImageHash, tdxImageHash } from '../image-hash.js';
import type { VerifyOptions } from '../options.js';
import { DEFAULT_ACCEPTED_TCB_STATUSES, DEFAULT_POLICY, type VerifierPolicy } from '../policy.js';
import { reason, reasonFromError, type Reason } from '../reasons.js';
import { policyAnchors, simulatedAnchorReasons } from '../trust.js';
import { verdict, type Verdict } from '../verdict.js';
import { parseCertificate, type ParsedCertificate } from '../x509.js';
import { collateralSignatureValid, parseQeIdentity, parseTcbInfo, type QeIdentity, type SignedCollateral, type TcbInfo, type TdxCollateral } from './collateral.js';
import { intelAnchor } from './intel-root.js';
import { readPckInfo, type PckInfo } from './pck.js';
import { parseTdxQuote, type TdxQuote } from './quote.js';
import { computeTcbStatus } from './tcb-status.js';

/** Intel's quoting enclave vendor id (quote header qe_vendor_id). */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
/** PCK leaf → PCK Platform/Processor CA → Intel SGX Root CA. */
const PCK_CHAIN_LENGTH = 3;
const TCB_SIGNING_CN = 'Intel SGX TCB Signing';
/** TD_ATTRIBUTES bit 0: TUD.DEBUG (the TD is debuggable). */
const TD_ATTRIBUTE_DEBUG = 0x01;

export interface TdxEvidence {
  /** The quote: binary, hex or base64. */
  quote: Uint8Array | string;
  collateral?: TdxCollateral;
}

export interface TdxClaims {
  version?: number;
  bodyType?: number;
  mrTd?: string;
  rtmrs?: string[];
  mrConfigId?: string;
  mrOwner?: string;
  mrOwnerConfig?: string;
  mrSeam?: string;
  mrSignerSeam?: string;
  seamAttributes?: string;
  tdAttributes?: string;
  xfam?: string;
  reportData?: string;
  teeTcbSvn2?: string;
  mrServiceTd?: string;
  imageHash?: string;
  debug?: boolean;
  tcb?: { teeTcbSvn: string; pceSvn?: number; cpuSvn?: number[]; qeSvn: number; fmspc?: string };
  /** PCK PPID: the platform identifier. */
  deviceId?: string;
  qe?: { mrEnclave: string; mrSigner: string; isvProdId: number; isvSvn: number };
  tcbStatus?: string;
  tcbDate?: string;
  advisoryIds?: string[];
  tcbEvaluationDataNumber?: number;
  root?: string;
  simulated?: boolean;
}

function quoteClaims(q: TdxQuote): TdxClaims {
  const b = q.body;
  const claims: TdxClaims = {
    version: q.version,
    mrTd: toHex(b.mrTd),
    rtmrs: b.rtmrs.map(toHex),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    mrSeam: toHex(b.mrSeam),
    mrSignerSeam: toHex(b.mrSignerSeam),
    seamAttributes: toHex(b.seamAttributes),
    tdAttributes: toHex(b.tdAttributes),
    xfam: toHex(b.xfam),
    reportData: toHex(b.reportData),
    imageHash: tdxImageHash(b),
    debug: (b.tdAttributes[0]! & TD_ATTRIBUTE_DEBUG) !== 0,
    tcb: { teeTcbSvn: toHex(b.teeTcbSvn), qeSvn: q.qeReport.isvSvn },
    qe: { mrEnclave: toHex(q.qeReport.mrEnclave), mrSigner: toHex(q.qeReport.mrSigner), isvProdId: q.qeReport.isvProdId, isvSvn: q.qeReport.isvSvn },
  };
  if (q.bodyType !== undefined) claims.bodyType = q.bodyType;
  if (b.teeTcbSvn2) claims.teeTcbSvn2 = toHex(b.teeTcbSvn2);
  if (b.mrServiceTd) claims.mrServiceTd = toHex(b.mrServiceTd);
  return claims;
}

function attestationKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(raw.subarray(0, 32)).toString('base64url'), y: Buffer.from(raw.subarray(32, 64)).toString('base64url') },
    format: 'jwk',
  });
}

function p256Valid(data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

function within(now: Date, issueDate: string, nextUpdate: string): boolean {
  const from = Date.parse(issueDate);
  const to = Date.parse(nextUpdate);
  return Number.isFinite(from) && Number.isFinite(to) && from <= now.getTime() && now.getTime() <= to;
}

function newest<T extends { tcbEvaluationDataNumber: number; issueDate: string }>(items: SignedCollateral<T>[]): SignedCollateral<T> | undefined {
  return [...items].sort((a, b) => b.body.tcbEvaluationDataNumber - a.body.tcbEvaluationDataNumber || Date.parse(b.body.issueDate) - Date.parse(a.body.issueDate))[0];
}

interface CollateralOutcome {
  reasons: Reason[];
  tcbInfo?: TcbInfo;
  qeIdentity?: QeIdentity;
}

/** Checks the collateral itself: signer chain, signatures, freshness, CRLs; selects TCB info by FMSPC. */
function checkCollateral(collateral: TdxCollateral, pck: PckInfo, pckPath: ParsedCertificate[], now: Date): CollateralOutcome {
  const reasons: Reason[] = [];
  const missing: string[] = [];
  if (!collateral.tcbInfos?.length) missing.push('TCB info');
  if (!collateral.qeIdentities?.length) missing.push('QE identity');
  if (!collateral.issuerChain?.length) missing.push('TCB signing chain');
  if (!collateral.crls?.length) missing.push('CRLs');
  if (missing.length) return { reasons: [reason('COLLATERAL_MISSING', `TDX collateral is incomplete: no ${missing.join(', ')}`)] };

  const intel = intelAnchor();
  const issuers = collateral.issuerChain!.map(parseCertificate);
  const signer = issuers.find((c) => c.subjectCommonName === TCB_SIGNING_CN);
  if (!signer) return { reasons: [reason('COLLATERAL_MISSING', `the collateral issuer chain has no "${TCB_SIGNING_CN}" certificate`)] };
  const signerChain = verifyChain(signer, issuers, [intel], now, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
  if (!signerChain.ok || signerChain.reasons.length) {
    const why = signerChain.reasons.map((r) => r.message).join('; ');
    return { reasons: [reason('COLLATERAL_INVALID', `TCB signing certificate does not chain to the Intel SGX Root CA at ${now.toISOString()}: ${why}`)] };
  }

  // CRLs: one from the PCK leaf's issuer, one from the root (covering the PCK CA and the TCB signer).
  const crls: ParsedCrl[] = collateral.crls!.map(parseCrl);
  const pckCa = pckPath[1]!;
  const root = pckPath[pckPath.length - 1]!;
  for (const [issuer, subjects] of [
    [pckCa, [pckPath[0]!]],
    [root, [pckCa, signer]],
  ] as const) {
    const crl = newestCrlOf(crls, issuer);
    if (!crl) {
      const unsigned = crls.some((c) => crlIssuedBy(c, issuer));
      reasons.push(
        unsigned
          ? reason('COLLATERAL_INVALID', `the CRL of "${issuer.subjectCommonName}" is not validly signed by it (bad signature, or its keyUsage lacks cRLSign)`)
          : reason('COLLATERAL_MISSING', `no CRL from "${issuer.subjectCommonName}" was supplied`),
      );
      continue;
    }
    if (crl.thisUpdate.getTime() > now.getTime() || (crl.nextUpdate && crl.nextUpdate.getTime() < now.getTime())) {
      reasons.push(reason('COLLATERAL_INVALID', `the CRL of "${issuer.subjectCommonName}" is not current at ${now.toISOString()} (${crl.thisUpdate.toISOString()}..${crl.nextUpdate?.toISOString() ?? '?'})`));
    }
    for (const subject of subjects) {
      if (isRevoked(crl, subject)) reasons.push(reason('CERT_REVOKED', `certificate "${subject.subjectCommonName}" (serial ${subject.serialHex}) is revoked by "${issuer.subjectCommonName}"`));
    }
  }

  // Only signed text is judged: a body whose signature fails yields a reason and nothing else (no dates,
  // no TCB status in the claims), so nothing unsigned reaches the verdict or the claims.
  const out: CollateralOutcome = { reasons };
  const infos = collateral.tcbInfos!.map(parseTcbInfo).filter((c) => c.body.id === 'TDX' && c.body.fmspc.toLowerCase() === pck.fmspc && c.body.pceId.toLowerCase() === pck.pceId);
  const info = newest(infos);
  if (!info) {
    reasons.push(reason('COLLATERAL_MISSING', `no TDX TCB info for FMSPC ${pck.fmspc} (PCE-ID ${pck.pceId}) was supplied`));
  } else if (!collateralSignatureValid(info, signer)) {
    reasons.push(reason('COLLATERAL_INVALID', `TCB info for FMSPC ${pck.fmspc}: signature does not verify over its raw text`));
  } else {
    if (!within(now, info.body.issueDate, info.body.nextUpdate)) {
      reasons.push(reason('COLLATERAL_INVALID', `TCB info for FMSPC ${pck.fmspc} is not current at ${now.toISOString()} (${info.body.issueDate}..${info.body.nextUpdate})`));
    }
    out.tcbInfo = info.body;
  }
  const identity = newest(collateral.qeIdentities!.map(parseQeIdentity).filter((c) => c.body.id === 'TD_QE'));
  if (!identity) {
    reasons.push(reason('COLLATERAL_MISSING', 'no TD_QE identity was supplied'));
  } else if (!collateralSignatureValid(identity, signer)) {
    reasons.push(reason('COLLATERAL_INVALID', 'QE identity: signature does not verify over its raw text'));
  } else {
    if (!within(now, identity.body.issueDate, identity.body.nextUpdate)) {
      reasons.push(reason('COLLATERAL_INVALID', `QE identity is not current at ${now.toISOString()} (${identity.body.issueDate}..${identity.body.nextUpdate})`));
    }
    out.qeIdentity = identity.body;
  }
  return out;
}

function minimumTcbReasons(q: TdxQuote, pck: PckInfo, policy: VerifierPolicy): Reason[] {
  const min = policy.minimumTcb;
  if (!min) return [];
  const out: Reason[] = [];
  const svn = q.body.teeTcbSvn;
  if (min.tdxModuleSvn !== undefined && svn[0]! < min.tdxModuleSvn) out.push(reason('TCB_TOO_LOW', `TDX module SVN ${svn[0]} is below the policy minimum ${min.tdxModuleSvn}`));
  if (min.tdxTeeTcbSvn) {
    const low = min.tdxTeeTcbSvn.findIndex((m, i) => svn[i]! < m);
    if (low >= 0) out.push(reason('TCB_TOO_LOW', `TEE_TCB_SVN[${low}] = ${svn[low]} is below the policy minimum ${min.tdxTeeTcbSvn[low]}`));
  }
  if (min.pceSvn !== undefined && pck.pceSvn < min.pceSvn) out.push(reason('TCB_TOO_LOW', `PCESVN ${pck.pceSvn} is below the policy minimum ${min.pceSvn}`));
  if (min.qeSvn !== undefined && q.qeReport.isvSvn < min.qeSvn) out.push(reason('TCB_TOO_LOW', `QE ISVSVN ${q.qeReport.isvSvn} is below the policy minimum ${min.qeSvn}`));
  return out;
}

export function verifyTdx(evidence: TdxEvidence, options: VerifyOptions): Verdict<TdxClaims> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const reasons: Reason[] = [];
  let claims: TdxClaims = {};
  try {
    const anchors: TrustAnchor[] = [intelAnchor(), ...policyAnchors(policy)];
    const quote = parseTdxQuote(decodeEvidenceBytes(evidence.quote, (b) => b.length > 48 && (b[0] === 4 || b[0] === 5) && b[1] === 0));
    claims = quoteClaims(quote);

    const pckCerts = decodeCertificates(quote.pckChainPem, 'PCK certificate chain in the quote').map(parseCertificate);
    const leaf = pckCerts[0]!;
    const pck = readPckInfo(leaf);
    claims.deviceId = pck.ppid;
    claims.tcb = { ...claims.tcb!, pceSvn: pck.pceSvn, cpuSvn: pck.cpuSvnComponents, fmspc: pck.fmspc };
    const chain = verifyChain(leaf, pckCerts.slice(1), anchors, options.now, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
    reasons.push(...chain.reasons);
    if (chain.ok) {
      claims.root = chain.anchor.name;
      claims.simulated = chain.anchor.simulated;
      if (chain.path.length !== PCK_CHAIN_LENGTH) reasons.push(reason('CHAIN_UNTRUSTED', `PCK chain has ${chain.path.length} certificates, expected ${PCK_CHAIN_LENGTH}`));
      reasons.push(...simulatedAnchorReasons(chain.anchor, policy));
    }

    if (toHex(quote.qeVendorId) !== INTEL_QE_VENDOR_ID) reasons.push(reason('QE_IDENTITY_MISMATCH', `quote was produced by QE vendor ${toHex(quote.qeVendorId)}, not Intel's`));
    if (!p256Valid(quote.qeReport.raw, leaf.publicKey, quote.qeReportSignature)) reasons.push(reason('SIGNATURE_INVALID', 'QE report signature does not verify with the PCK certificate key'));
    const binding = sha256(concatBytes(quote.attestationKey, quote.qeAuthData));
    if (!bytesEqual(quote.qeReport.reportData.subarray(0, 32), binding) || !isAllZero(quote.qeReport.reportData.subarray(32))) {
      reasons.push(reason('SIGNATURE_INVALID', 'QE report_data does not commit to the attestation key (SHA-256(AK ‖ auth data))'));
    }
    if (!p256Valid(quote.signedBytes, attestationKey(quote.attestationKey), quote.signature)) reasons.push(reason('SIGNATURE_INVALID', 'quote signature does not verify with the attestation key'));

    const collateralRequired = policy.tdx?.collateralRequired !== false;
    const collateral = evidence.collateral;
    const haveCollateral = !!collateral && !!(collateral.tcbInfos?.length || collateral.qeIdentities?.length || collateral.crls?.length || collateral.issuerChain?.length);
    if (chain.ok && (collateralRequired || haveCollateral)) {
      const outcome = checkCollateral(collateral ?? {}, pck, chain.path, options.now);
      reasons.push(...outcome.reasons);
      if (outcome.tcbInfo && outcome.qeIdentity) {
        const status = computeTcbStatus(outcome.tcbInfo, outcome.qeIdentity, pck, quote.body, quote.qeReport);
        claims.tcbStatus = status.status;
        if (status.tcbDate) claims.tcbDate = status.tcbDate;
        claims.advisoryIds = status.advisoryIds;
        claims.tcbEvaluationDataNumber = outcome.tcbInfo.tcbEvaluationDataNumber;
        if (!status.qeIdentityMatches) reasons.push(reason('QE_IDENTITY_MISMATCH', 'the quoting enclave does not match Intel\'s TD_QE identity (MRSIGNER, ISVPRODID, MISCSELECT or ATTRIBUTES)'));
        const accepted = policy.tdx?.acceptedTcbStatuses ?? DEFAULT_ACCEPTED_TCB_STATUSES;
        if (!(accepted as readonly string[]).includes(status.status)) {
          const why = status.problems.length ? ` (${status.problems.join('; ')})` : '';
          reasons.push(reason('TCB_STATUS_UNACCEPTABLE', `TCB status ${status.status}${why} is not accepted (accepted: ${accepted.join(', ')})`));
        }
      }
    }

    if (chain.ok && reasons.length === 0) {
      reasons.push(...checkReportData(quote.body.reportData, options));
      reasons.push(...checkEvidenceAge(policy, options.now, options.nonceIssuedAt));
      if (claims.debug && policy.debugAllowed !== true) reasons.push(reason('DEBUG_ENABLED', `TD_ATTRIBUTES ${claims.tdAttributes} has TUD.DEBUG set and the policy forbids debugging`));
      reasons.push(...minimumTcbReasons(quote, pck, policy));
      reasons.push(...checkMeasurementPolicy(policy, claims.mrTd!, claims.imageHash!, legacyTdxImageHash(quote.body)));
    }
  } catch (err) {
    reasons.push(reasonFromError(err));
  }
  if (reasons.length === 0 && !claims.mrTd) reasons.push(reason('MALFORMED_EVIDENCE', 'no quote was verified'));
  return verdict('tdx', claims, reasons);
}
