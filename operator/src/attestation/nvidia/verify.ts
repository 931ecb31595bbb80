// NVIDIA H100 verification: parse the SPDM evidence, chain the leaf to the pinned
// NVIDIA Device Identity CA through exactly five certificates (FMC leaf → GSP BROM → Provisioner ICA →
// GH100 Identity → root), check the leaf's FWID equals the report's, verify the P-384 signature over
// request ‖ response, then nonce and policy (driver/VBIOS allow lists, CC mode), and, when the caller
// passes RIMs, the measurements against NVIDIA's signed reference values (rim.ts, reference-values.ts).
// The GPU model comes from the signed opaque fields (gpu-model.ts), never from a constant. Multi-GPU
// evidence is one report per GPU, all bound to the same nonce, each a different device.
import { verify as verifySignature } from 'node:crypto';
import { bytesEqual, toHex } from '../bytes.js';
import { verifyChain } from '../chain.js';
import { decodeCertificates, decodeEvidenceBytes } from '../evidence-input.js';
import { checkEvidenceAge } from '../freshness.js';
import type { VerifyOptions } from '../options.js';
import { DEFAULT_POLICY, type VerifierPolicy } from '../policy.js';
import { reason, reasonFromError, type Reason } from '../reasons.js';
import { policyAnchors, simulatedAnchorReasons } from '../trust.js';
import { verdict, type Verdict } from '../verdict.js';
import { parseCertificate } from '../x509.js';
import { certificateFwid } from './fwid.js';
import { gpuIdentity } from './gpu-model.js';
import { compareWithReferences, NVDEC_DISABLED, rimIds, type RimIds } from './reference-values.js';
import { verifyRim, type RimManifest } from './rim.js';
import { nvidiaRimAnchor } from './rim-root.js';
import { nvidiaAnchor } from './nvidia-root.js';
import { chainOcspReasons, parseResponses } from './revocation.js';
import type { ParsedOcspResponse } from '../ocsp.js';
import { OPAQUE_FIELD, parseOpaqueData } from './opaque.js';
import { NONCE_LENGTH, parseSpdmEvidence, REQUEST_LENGTH } from './spdm.js';

/** Leaf, BROM, Provisioner ICA, GH100 Identity, Device Identity CA. */
export const GPU_CHAIN_LENGTH = 5;

export interface GpuEvidenceInput {
  /** SPDM request ‖ response: binary, hex or base64. */
  evidence: Uint8Array | string;
  /** The device certificate chain, leaf first: a PEM bundle, or DER certificates. */
  chain: Uint8Array | string | Uint8Array[];
}

/**
 * NVIDIA RIMs (signed SWID XML) to compare GPU measurements with. Given (even empty), every GPU must have
 * a verified driver RIM and VBIOS RIM for its versions, or it is refused; absent, the comparison is not
 * made and claims.referenceValues says so. The verifier never fetches RIMs itself.
 */
export interface GpuReferenceOptions {
  rims?: (Uint8Array | string)[];
  /**
   * OCSP responses (DER) for the certificates of the GPU device chains and of the RIM signing chains
   * (nvidia/revocation.ts). Given (even empty), every such certificate needs a current "good" response;
   * absent, certificate status is not checked.
   */
  ocspResponses?: Uint8Array[];
}

export type GpuVerifyOptions = VerifyOptions & GpuReferenceOptions;

export interface ReferenceValueClaims {
  checked: boolean;
  driverRim?: string;
  vbiosRim?: string;
  /** The RIM signers' root. */
  root?: string;
  /** Reference indexes (0-based) that matched. */
  matched?: number;
}

export interface GpuClaims {
  /** The GPU chip from the signed GPU_INFO field, e.g. GH100. */
  chip?: string;
  /** The model placement knows (H100, …) from chip and board project/SKU; absent when the evidence does not say. */
  model?: string;
  /** The RIM ids NVIDIA's RIM service uses for this report's driver and VBIOS. */
  rimIds?: RimIds;
  referenceValues?: ReferenceValueClaims;
  nonce?: string;
  responderNonce?: string;
  spdmVersion?: string;
  /** The leaf certificate's subject serialNumber: NVIDIA's per-device identifier. */
  deviceId?: string;
  driverVersion?: string;
  vbiosVersion?: string;
  fwid?: string;
  project?: string;
  projectSku?: string;
  chipSku?: string;
  /** "on" (FEATURE_FLAG SPT/MPT), "ppcie", or "unknown" when the driver does not report FEATURE_FLAG. */
  ccMode?: 'on' | 'ppcie' | 'unknown';
  ccFeature?: 'spt' | 'mpt' | 'ppcie';
  /** Measurement block values by block index (1-based), hex. */
  measurements?: Record<string, string>;
  root?: string;
  simulated?: boolean;
}

function versionAllowed(allowed: string[] | undefined, actual: string | undefined): boolean {
  if (!allowed) return true;
  return actual !== undefined && allowed.some((a) => a.toLowerCase() === actual.toLowerCase());
}

function gpuPolicyReasons(claims: GpuClaims, policy: VerifierPolicy): Reason[] {
  const out: Reason[] = [];
  const gpu = policy.gpu ?? {};
  if (!versionAllowed(gpu.driverVersions, claims.driverVersion)) {
    out.push(reason('VERSION_NOT_ALLOWED', `driver version ${claims.driverVersion ?? '(none)'} is not in the policy's gpu.driverVersions`));
  }
  if (!versionAllowed(gpu.vbiosVersions, claims.vbiosVersion)) {
    out.push(reason('VERSION_NOT_ALLOWED', `VBIOS version ${claims.vbiosVersion ?? '(none)'} is not in the policy's gpu.vbiosVersions`));
  }
  // CC mode is only as good as what the signed evidence says: drivers that do not report FEATURE_FLAG
  // leave it unknown, which a policy requiring CC mode treats as not shown (fail closed).
  if (gpu.ccModeRequired === true && claims.ccMode !== 'on' && claims.ccMode !== 'ppcie') {
    out.push(reason('GPU_CC_DISABLED', `the GPU evidence does not show confidential-computing mode (${claims.ccMode ?? 'unknown'}) and the policy requires it`));
  }
  return out;
}

function chainDers(chain: GpuEvidenceInput['chain']): Uint8Array[] {
  return Array.isArray(chain) ? chain : decodeCertificates(chain, 'GPU certificate chain');
}

/** One GPU's evidence. */
export function verifyNvidiaGpu(input: GpuEvidenceInput, options: GpuVerifyOptions): Verdict<GpuClaims> {
  const ocsp = options.ocspResponses === undefined ? undefined : parseResponses(options.ocspResponses);
  return verifyOne(input, options, options.rims === undefined ? undefined : verifyRims(options.rims, options, ocsp), ocsp);
}

interface VerifiedRims {
  manifests: RimManifest[];
  reasons: Reason[];
}

/** Every RIM given must verify (a bad one is refused, not skipped). */
function verifyRims(rims: (Uint8Array | string)[], options: VerifyOptions, ocsp: ParsedOcspResponse[] | undefined): VerifiedRims {
  const policy = options.policy ?? DEFAULT_POLICY;
  const out: VerifiedRims = { manifests: [], reasons: [] };
  let anchors;
  try {
    anchors = [nvidiaRimAnchor(), ...policyAnchors(policy)];
  } catch (err) {
    out.reasons.push(reasonFromError(err));
    return out;
  }
  rims.forEach((rim, i) => {
    const v = verifyRim(typeof rim === 'string' ? new Uint8Array(Buffer.from(rim, 'utf8')) : rim, anchors, options.now);
    if (!v.ok) out.reasons.push(...v.reasons.map((r) => reason(r.code, `RIM ${i}: ${r.message}`)));
    else {
      if (ocsp) out.reasons.push(...(v.manifest.path ? chainOcspReasons(v.manifest.path, 'rim', ocsp, options.now) : [reason('COLLATERAL_MISSING', 'its signer path is not known, so its certificates\' status cannot be checked')]).map((r) => reason(r.code, `RIM ${i} signer chain: ${r.message}`)));
      out.manifests.push(v.manifest);
      const anchor = anchors.find((a) => a.name === v.manifest.root);
      if (anchor) out.reasons.push(...simulatedAnchorReasons(anchor, policy).map((r) => reason(r.code, `RIM ${i}: ${r.message}`)));
    }
  });
  return out;
}

function referenceReasons(claims: GpuClaims, blocks: Record<string, string>, nvdecDisabled: boolean, rims: VerifiedRims): Reason[] {
  if (rims.reasons.length > 0) return rims.reasons;
  const ids = claims.rimIds;
  if (!ids || !claims.chip) {
    return [reason('COLLATERAL_MISSING', 'the GPU report does not identify its chip, driver, VBIOS and board, so no RIM can be chosen for it')];
  }
  const pick = (version: string, id: string, what: string): RimManifest | Reason => {
    const found = rims.manifests.filter((m) => m.version.toLowerCase() === version.toLowerCase() && m.product === claims.chip);
    if (found.length === 0) return reason('COLLATERAL_MISSING', `no ${what} RIM for ${claims.chip} ${version} was given (NVIDIA's id ${id})`);
    if (found.length > 1) return reason('COLLATERAL_INVALID', `${found.length} ${what} RIMs for ${claims.chip} ${version} were given; exactly one is expected`);
    return found[0]!;
  };
  const driver = pick(claims.driverVersion!, ids.driver, 'driver');
  const vbios = pick(claims.vbiosVersion!, ids.vbios, 'VBIOS');
  const missing = [driver, vbios].filter((x): x is Reason => 'code' in x);
  if (missing.length > 0) return missing;
  const d = driver as RimManifest;
  const b = vbios as RimManifest;
  const comparison = compareWithReferences(blocks, d, b, nvdecDisabled);
  claims.referenceValues = { checked: true, driverRim: d.version, vbiosRim: b.version, root: d.root === b.root ? d.root : `${d.root}, ${b.root}`, matched: comparison.matched.length };
  if (d.simulated || b.simulated) claims.simulated = true;
  return comparison.reasons;
}

function verifyOne(input: GpuEvidenceInput, options: VerifyOptions, rims: VerifiedRims | undefined, ocsp: ParsedOcspResponse[] | undefined): Verdict<GpuClaims> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const reasons: Reason[] = [];
  const claims: GpuClaims = {};
  try {
    const anchors = [nvidiaAnchor(), ...policyAnchors(policy)];
    const bytes = decodeEvidenceBytes(input.evidence, (b) => b.length > REQUEST_LENGTH && b[1] === 0xe0);
    const spdm = parseSpdmEvidence(bytes);
    const opaque = parseOpaqueData(spdm.opaque);
    Object.assign(claims, {
      nonce: toHex(spdm.requestNonce),
      responderNonce: toHex(spdm.responderNonce),
      spdmVersion: `${spdm.version >> 4}.${spdm.version & 0xf}`,
      driverVersion: opaque.driverVersion,
      vbiosVersion: opaque.vbiosVersion,
      fwid: opaque.fwid ? toHex(opaque.fwid) : undefined,
      project: opaque.project,
      projectSku: opaque.projectSku,
      chipSku: opaque.chipSku,
      ccMode: opaque.ccFeature === undefined ? 'unknown' : opaque.ccFeature === 'ppcie' ? 'ppcie' : 'on',
      ccFeature: opaque.ccFeature,
      measurements: Object.fromEntries(spdm.blocks.map((b) => [String(b.index), toHex(b.value)])),
    } satisfies GpuClaims);
    Object.assign(claims, gpuIdentity(opaque.fields, opaque.project, opaque.projectSku));
    claims.rimIds = rimIds(claims);
    for (const key of Object.keys(claims) as (keyof GpuClaims)[]) if (claims[key] === undefined) delete claims[key];

    const certs = chainDers(input.chain).map(parseCertificate);
    if (certs.length === 0) return verdict('nvidia-gpu', claims, [reason('COLLATERAL_MISSING', 'GPU evidence needs its device certificate chain')]);
    const leaf = certs[0]!;
    if (leaf.subjectSerialNumber) claims.deviceId = leaf.subjectSerialNumber;
    const chain = verifyChain(leaf, certs.slice(1), anchors, options.now, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
    reasons.push(...chain.reasons);
    if (chain.ok) {
      claims.root = chain.anchor.name;
      claims.simulated = chain.anchor.simulated;
      if (chain.path.length !== GPU_CHAIN_LENGTH) {
        reasons.push(reason('CHAIN_UNTRUSTED', `GPU chain has ${chain.path.length} certificate(s) from the signer to the root; a device identity chain has ${GPU_CHAIN_LENGTH}`));
      }
      reasons.push(...simulatedAnchorReasons(chain.anchor, policy));
      if (ocsp) reasons.push(...chainOcspReasons(chain.path, 'gpu', ocsp, options.now));
    }

    const signatureOk = verifySignature('sha384', spdm.signedBytes, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, spdm.signature);
    if (!signatureOk) reasons.push(reason('SIGNATURE_INVALID', 'SPDM measurement signature does not verify with the leaf certificate key'));

    const leafFwid = certificateFwid(leaf);
    if (!leafFwid) reasons.push(reason('CERT_MISMATCH', `leaf certificate "${leaf.subjectCommonName ?? leaf.subject}" has no FWID (TcbInfo extension): it is not a GPU firmware leaf`));
    else if (!opaque.fwid) reasons.push(reason('CERT_MISMATCH', 'the report carries no FWID to compare with the leaf certificate'));
    else if (!bytesEqual(leafFwid, opaque.fwid)) reasons.push(reason('CERT_MISMATCH', 'leaf certificate FWID differs from the report FWID'));

    if (chain.ok && signatureOk && reasons.length === 0) {
      if (options.nonce) {
        if (options.nonce.length !== NONCE_LENGTH || !bytesEqual(options.nonce, spdm.requestNonce)) {
          reasons.push(reason('NONCE_MISMATCH', `SPDM request nonce ${claims.nonce} is not the expected ${toHex(options.nonce)}`));
        }
      }
      reasons.push(...checkEvidenceAge(policy, options.now, options.nonceIssuedAt));
      reasons.push(...gpuPolicyReasons(claims, policy));
      if (rims === undefined) claims.referenceValues = { checked: false };
      else reasons.push(...referenceReasons(claims, claims.measurements ?? {}, opaque.fields.get(OPAQUE_FIELD.NVDEC0_STATUS)?.[0] === NVDEC_DISABLED, rims));
    }
  } catch (err) {
    reasons.push(reasonFromError(err));
  }
  if (reasons.length === 0 && !claims.nonce) reasons.push(reason('MALFORMED_EVIDENCE', 'no GPU report was verified'));
  return verdict('nvidia-gpu', claims, reasons);
}

/** Several GPUs of one host: each verified, all bound to the same nonce, no device twice. */
export function verifyNvidiaGpus(inputs: GpuEvidenceInput[], options: GpuVerifyOptions): Verdict<{ gpus: GpuClaims[] }> {
  const ocsp = options.ocspResponses === undefined ? undefined : parseResponses(options.ocspResponses);
  const rims = options.rims === undefined ? undefined : verifyRims(options.rims, options, ocsp);
  const reasons: Reason[] = [];
  const gpus: GpuClaims[] = [];
  if (inputs.length === 0) reasons.push(reason('MALFORMED_EVIDENCE', 'no GPU evidence was given'));
  const seen = new Map<string, number>();
  inputs.forEach((input, i) => {
    const v = verifyOne(input, options, rims, ocsp);
    gpus.push(v.claims);
    reasons.push(...v.reasons.map((r) => ({ code: r.code, message: `GPU ${i}: ${r.message}` })));
    const id = v.claims.deviceId ?? v.claims.fwid;
    if (id !== undefined) {
      const first = seen.get(id);
      if (first !== undefined) reasons.push(reason('DUPLICATE_DEVICE', `GPU ${i} is the same device as GPU ${first} (${id})`));
      else seen.set(id, i);
    }
  });
  const nonces = new Set(gpus.map((g) => g.nonce));
  if (nonces.size > 1) reasons.push(reason('NONCE_MISMATCH', 'the GPU reports are not bound to one nonce'));
  return verdict('nvidia-gpu', { gpus }, reasons);
}
