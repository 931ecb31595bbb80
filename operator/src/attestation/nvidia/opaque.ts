// The opaque data NVIDIA GPUs append to the MEASUREMENTS response: little-endian TLVs (type u16, size
// u16, value). Field numbers as NVIDIA's nvtrust verifier defines them (test/vectors/nvidia-h100/SOURCE.md).
import { ByteReader, toHex } from '../bytes.js';
import { AttestationError } from '../reasons.js';

export const OPAQUE_FIELD = {
  DRIVER_VERSION: 3,
  GPU_INFO: 4,
  VBIOS_VERSION: 6,
  NVDEC0_STATUS: 11,
  MSRSCNT: 12,
  CPRINFO: 13,
  BOARD_ID: 14,
  CHIP_SKU: 15,
  CHIP_SKU_MOD: 16,
  PROJECT: 17,
  PROJECT_SKU: 18,
  PROJECT_SKU_MOD: 19,
  FWID: 20,
  PROTECTED_PCIE_STATUS: 21,
  SWITCH_PDI: 22,
  OPAQUE_DATA_VERSION: 34,
  FEATURE_FLAG: 36,
} as const;

/** FEATURE_FLAG values: the confidential-computing mode the GPU runs in. */
export const FEATURE_FLAG_MODES = { 0: 'spt', 1: 'mpt', 2: 'ppcie' } as const;

export interface OpaqueData {
  fields: Map<number, Uint8Array>;
  driverVersion: string | undefined;
  vbiosVersion: string | undefined;
  fwid: Uint8Array | undefined;
  project: string | undefined;
  projectSku: string | undefined;
  chipSku: string | undefined;
  /** From FEATURE_FLAG; undefined on drivers that do not report it. */
  ccFeature: 'spt' | 'mpt' | 'ppcie' | undefined;
}

function cString(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined;
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('latin1');
}

/**
 * VBIOS version text (nvtrust's rendering): read the 8 bytes as a little-endian integer, print it as 16
 * hex digits h, and take h[8:16] ‖ h[6:8] in dotted pairs: 009f009601000000 → "96.00.9F.00.01".
 */
export function formatVbiosVersion(bytes: Uint8Array): string {
  if (bytes.length !== 8) throw new AttestationError('MALFORMED_EVIDENCE', `VBIOS version field is ${bytes.length} bytes, expected 8`);
  const h = toHex(Uint8Array.from(bytes).reverse()).toUpperCase();
  const digits = h.slice(8, 16) + h.slice(6, 8);
  return digits.match(/../g)!.join('.');
}

export function parseOpaqueData(bytes: Uint8Array): OpaqueData {
  const r = new ByteReader(bytes, 'SPDM opaque data');
  const fields = new Map<number, Uint8Array>();
  let pos = 0;
  while (pos < bytes.length) {
    const type = r.u16(pos);
    const size = r.u16(pos + 2);
    const value = r.slice(pos + 4, size);
    if (fields.has(type)) throw new AttestationError('MALFORMED_EVIDENCE', `opaque data repeats field ${type}`);
    fields.set(type, value);
    pos += 4 + size;
  }
  const vbios = fields.get(OPAQUE_FIELD.VBIOS_VERSION);
  const fwid = fields.get(OPAQUE_FIELD.FWID);
  if (fwid && fwid.length !== 48) throw new AttestationError('MALFORMED_EVIDENCE', `opaque FWID is ${fwid.length} bytes, expected 48`);
  const feature = fields.get(OPAQUE_FIELD.FEATURE_FLAG);
  let ccFeature: OpaqueData['ccFeature'];
  if (feature) {
    const value = feature.length >= 1 ? feature[0]! | ((feature[1] ?? 0) << 8) : -1;
    ccFeature = FEATURE_FLAG_MODES[value as 0 | 1 | 2];
    if (!ccFeature) throw new AttestationError('MALFORMED_EVIDENCE', `opaque FEATURE_FLAG ${value} is not a known mode`);
  }
  return {
    fields,
    driverVersion: cString(fields.get(OPAQUE_FIELD.DRIVER_VERSION)),
    vbiosVersion: vbios ? formatVbiosVersion(vbios) : undefined,
    fwid,
    project: cString(fields.get(OPAQUE_FIELD.PROJECT)),
    projectSku: cString(fields.get(OPAQUE_FIELD.PROJECT_SKU)),
    chipSku: cString(fields.get(OPAQUE_FIELD.CHIP_SKU)),
    ccFeature,
  };
}
