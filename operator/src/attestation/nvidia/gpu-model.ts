// Which GPU the evidence proves, from signed fields only: the chip from the opaque GPU_INFO field (the
// architecture/implementation id; GH100 is 0x180 in both H100 vectors) and the product from the board's
// PROJECT and PROJECT_SKU fields. The table lists only what real evidence in test/vectors has shown; a
// GPU not in it is reported by chip alone (model undefined), so a ProviderNode declaring a model cannot be
// confirmed for it and is refused rather than trusted. H200 is a GH100 too: it will be told apart by its
// project/SKU once evidence from one is in the vectors.
import { OPAQUE_FIELD } from './opaque.js';

/** GPU_INFO value → chip. */
const CHIPS: ReadonlyMap<number, string> = new Map([[0x180, 'GH100']]);

/** `${chip}/${project}/${projectSku}` → the model name placement uses (ProviderNode spec.gpus.model). */
const MODELS: ReadonlyMap<string, string> = new Map([
  // NVIDIA/nvtrust hopperAttestationReport.txt and confidential-containers/trustee hopper_coco_report1.txt.
  ['GH100/1010/0200', 'H100'],
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
