// GPU measurements against NVIDIA's reference values, as NVIDIA's verifier (nvtrust local_gpu_verifier)
// compares them: the driver RIM and the VBIOS RIM together give one reference list (an index active in
// both is an inconsistent pair and fails); every active reference index i must have SPDM block i + 1 equal
// to one of its alternatives, of the reference's size; index 35 is skipped when the report says NVDEC0 is
// disabled (the decoder's measurement is then not taken). Which RIMs belong to a report: the driver RIM's
// version is the report's driver version, the VBIOS RIM's the report's VBIOS version, and both are for
// the report's chip. Their ids, as NVIDIA's RIM service names them, are derived from the report (rimIds)
// so a collateral source knows what to fetch; the verifier itself takes RIMs as input and fetches nothing.
import { reason, type Reason } from '../reasons.js';
import type { RimManifest } from './rim.js';

/** NVDEC0_STATUS value meaning the decoder is disabled (nvtrust NVDEC_STATUS.DISABLED). */
export const NVDEC_DISABLED = 0x55;
const NVDEC_MEASUREMENT_INDEX = 35;

export interface RimIds {
  driver: string;
  vbios: string;
}

/** NV_GPU_DRIVER_<chip>_<driver version> and NV_GPU_VBIOS_<project>_<project SKU>_<chip SKU>_<VBIOS without dots>. */
export function rimIds(r: { chip?: string; driverVersion?: string; vbiosVersion?: string; project?: string; projectSku?: string; chipSku?: string }): RimIds | undefined {
  if (!r.chip || !r.driverVersion || !r.vbiosVersion || !r.project || !r.projectSku || !r.chipSku) return undefined;
  return {
    driver: `NV_GPU_DRIVER_${r.chip}_${r.driverVersion}`,
    vbios: `NV_GPU_VBIOS_${r.project}_${r.projectSku}_${r.chipSku}_${r.vbiosVersion.replace(/\./g, '').toUpperCase()}`,
  };
}

export interface ReferenceComparison {
  /** 0-based indexes compared and matched. */
  matched: number[];
  reasons: Reason[];
}

/**
 * Compares measurement blocks (1-based block index → hex) with the driver and VBIOS RIMs' active entries.
 * Pure; the RIMs are already verified.
 */
export function compareWithReferences(blocks: Record<string, string>, driver: RimManifest, vbios: RimManifest, nvdecDisabled: boolean): ReferenceComparison {
  const reasons: Reason[] = [];
  const golden = new Map<number, { rim: string; values: string[]; size: number }>();
  for (const m of driver.measurements.values()) if (m.active) golden.set(m.index, { rim: `driver RIM ${driver.version}`, values: m.values, size: m.size });
  for (const m of vbios.measurements.values()) {
    if (!m.active) continue;
    if (golden.has(m.index)) {
      reasons.push(reason('COLLATERAL_INVALID', `the driver RIM ${driver.version} and the VBIOS RIM ${vbios.version} both give a reference value for index ${m.index}`));
      continue;
    }
    golden.set(m.index, { rim: `VBIOS RIM ${vbios.version}`, values: m.values, size: m.size });
  }
  const matched: number[] = [];
  const mismatched: string[] = [];
  for (const [index, ref] of [...golden].sort((a, b) => a[0] - b[0])) {
    if (index === NVDEC_MEASUREMENT_INDEX && nvdecDisabled) continue;
    const actual = blocks[String(index + 1)]?.toLowerCase();
    if (actual !== undefined && actual.length === ref.size * 2 && ref.values.includes(actual)) matched.push(index);
    else mismatched.push(`index ${index} (block ${index + 1}, ${ref.rim}): ${actual === undefined ? 'absent' : `${actual.slice(0, 16)}…`} is not ${ref.values.map((v) => `${v.slice(0, 16)}…`).join(' or ')}`);
  }
  if (mismatched.length > 0) reasons.push(reason('REFERENCE_MISMATCH', `GPU measurements differ from NVIDIA's reference values at ${mismatched.join('; ')}`));
  if (golden.size === 0) reasons.push(reason('COLLATERAL_INVALID', 'the RIMs give no active reference value to compare'));
  return { matched, reasons };
}
