// Which GPU the evidence proves, from signed fields only: the chip from the opaque GPU_INFO field (the
// architecture/implementation id; GH100 is 0x180 in both H100 vectors) and the product from the board's
// PROJECT and PROJECT_SKU fields. The table lists only boards documented from real evidence: the H100
// reports in test/vectors, and the project/SKU pairs that NVIDIA's verifier put into the VBIOS RIM ids
// (NV_GPU_VBIOS_<project>_<project SKU>_<chip SKU>_<VBIOS>, reference-values.ts) of H200 and H100 boards
// reported in NVIDIA/nvtrust issues (test/vectors/nvidia-h100/SOURCE.md, "Board ids"); no H200 report
// itself is in the vectors. A GPU not in the table is reported by chip alone (model undefined), so a
// ProviderNode declaring a model cannot be confirmed for it and is refused rather than trusted. H200 is
// a GH100 too: its GPU_INFO is assumed to be GH100's (if it is not, it gets no chip and no model).
import { OPAQUE_FIELD } from './opaque.js';

/** GPU_INFO value → chip. */
const CHIPS: ReadonlyMap<number, string> = new Map([[0x180, 'GH100']]);

/** `${chip}/${project}/${projectSku}` → the model name placement uses (ProviderNode spec.gpus.model). */
const MODELS: ReadonlyMap<string, string> = new Map([
  // NVIDIA/nvtrust hopperAttestationReport.txt and confidential-containers/trustee hopper_coco_report1.txt.
  ['GH100/1010/0200', 'H100'],
  // NVIDIA/nvtrust issue 101: an H100 SXM board's VBIOS RIM id NV_GPU_VBIOS_G520_0202_885_….
  ['GH100/G520/0202', 'H100'],
  // NVIDIA/nvtrust issues 66 and 101: two H200 boards (VBIOS 96.00.9D.00.02 and 96.00.A5.00.03), RIM ids
  // NV_GPU_VBIOS_G520_0280_895_….
  ['GH100/G520/0280', 'H200'],
]);

export interface GpuIdentity {
  chip?: string;
  model?: string;
}

export function gpuInfoValue(fields: Map<number, Uint8Array>): number | undefined {
  const info = fields.get(OPAQUE_FIELD.GPU_INFO);
  if (!info || info.length < 4) return undefined;
  return Buffer.from(info).readUInt32LE(0);
}

export function gpuIdentity(fields: Map<number, Uint8Array>, project: string | undefined, projectSku: string | undefined): GpuIdentity {
  const info = gpuInfoValue(fields);
  const chip = info === undefined ? undefined : CHIPS.get(info);
  if (!chip) return {};
  const model = project !== undefined && projectSku !== undefined ? MODELS.get(`${chip}/${project}/${projectSku}`) : undefined;
  return model ? { chip, model } : { chip };
}
