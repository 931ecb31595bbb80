// SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI spec, Table 22 "ATTESTATION_REPORT Structure"):
// 0x4A0 bytes, little-endian. Layout as documented in test/vectors/sev-snp/SOURCE.md.
import { ByteReader } from '../bytes.js';
import { AttestationError } from '../reasons.js';

export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes [0, 0x2A0). */
export const SNP_SIGNED_END = 0x2a0;
export const SUPPORTED_REPORT_VERSIONS = [2, 3, 5] as const;
/** signature_algo 1 = ECDSA P-384 with SHA-384 (Table 139, "Signature Algorithm Encodings"). */
export const SIG_ALGO_ECDSA_P384_SHA384 = 1;

export type SigningKey = 'vcek' | 'vlek' | 'none';

export interface SnpReport {
  raw: Uint8Array;
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: Uint8Array;
  platformInfo: bigint;
  /** flags bit 0. */
  authorKeyEnabled: boolean;
  /** flags bit 1: chip_id is zero-filled. */
  maskChipId: boolean;
  /** flags bits 2-4: 0 VCEK, 1 VLEK, 7 none. */
  signingKey: SigningKey;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  /** The TCB the VCEK was derived from: the one the certificate's SPL extensions describe. */
  reportedTcb: Uint8Array;
  /** v3+: CPUID family/model/stepping of the platform (zero in v2). */
  cpuid: { family: number; model: number; stepping: number } | undefined;
  chipId: Uint8Array;
  committedTcb: Uint8Array;
  launchTcb: Uint8Array;
  /** The signed region, bytes [0, 0x2A0). */
  signedBytes: Uint8Array;
  /** r and s as big-endian 48-byte integers, concatenated (IEEE P1363 form for node:crypto). */
  signatureP1363: Uint8Array;
  /** Whether the 24 high-order bytes of r and s are zero, as a P-384 signature requires. */
  signatureHighBytesZero: boolean;
}

/** SNP guest policy bits (ABI spec Table 9, "Guest Policy Structure"). */
export const POLICY_BITS = {
  SMT: 16n,
  RESERVED_MUST_BE_ONE: 17n,
  MIGRATE_MA: 18n,
  DEBUG: 19n,
  SINGLE_SOCKET: 20n,
} as const;

export function policyBit(policy: bigint, bit: bigint): boolean {
  return ((policy >> bit) & 1n) === 1n;
}

function signingKeyOf(flags: number): SigningKey {
  const sel = (flags >> 2) & 0x7;
  if (sel === 0) return 'vcek';
  if (sel === 1) return 'vlek';
  if (sel === 7) return 'none';
  throw new AttestationError('MALFORMED_EVIDENCE', `SNP report flags select unknown signing key ${sel}`);
}

/** Converts one little-endian 72-byte signature component to 48 big-endian bytes. */
function component(raw: Uint8Array): Uint8Array {
  return Uint8Array.from(raw.subarray(0, 48)).reverse();
}

export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw new AttestationError('MALFORMED_EVIDENCE', `SNP report must be ${SNP_REPORT_SIZE} bytes, got ${bytes.length}`);
  }
  const r = new ByteReader(bytes, 'SNP report');
  const version = r.u32(0x000);
  if (!(SUPPORTED_REPORT_VERSIONS as readonly number[]).includes(version)) {
    throw new AttestationError('MALFORMED_EVIDENCE', `SNP report version ${version} is not supported (${SUPPORTED_REPORT_VERSIONS.join(', ')})`);
  }
  const signatureAlgo = r.u32(0x034);
  const flags = r.u32(0x048);
  const sigR = r.slice(0x2a0, 72);
  const sigS = r.slice(0x2e8, 72);
  const highZero = [...sigR.subarray(48), ...sigS.subarray(48)].every((b) => b === 0);
  const family = r.u8(0x188);
  return {
    raw: bytes,
    version,
    guestSvn: r.u32(0x004),
    policy: r.u64(0x008),
    familyId: r.slice(0x010, 16),
    imageId: r.slice(0x020, 16),
    vmpl: r.u32(0x030),
    signatureAlgo,
    currentTcb: r.slice(0x038, 8),
    platformInfo: r.u64(0x040),
    authorKeyEnabled: (flags & 1) === 1,
    maskChipId: (flags & 2) === 2,
    signingKey: signingKeyOf(flags),
    reportData: r.slice(0x050, 64),
    measurement: r.slice(0x090, 48),
    hostData: r.slice(0x0c0, 32),
    idKeyDigest: r.slice(0x0e0, 48),
    authorKeyDigest: r.slice(0x110, 48),
    reportId: r.slice(0x140, 32),
    reportIdMa: r.slice(0x160, 32),
    reportedTcb: r.slice(0x180, 8),
    cpuid: version >= 3 ? { family, model: r.u8(0x189), stepping: r.u8(0x18a) } : undefined,
    chipId: r.slice(0x1a0, 64),
    committedTcb: r.slice(0x1e0, 8),
    launchTcb: r.slice(0x1f0, 8),
    signedBytes: r.slice(0, SNP_SIGNED_END),
    signatureP1363: new Uint8Array([...component(sigR), ...component(sigS)]),
    signatureHighBytesZero: highZero,
  };
}
