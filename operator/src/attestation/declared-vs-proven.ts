// What a ProviderNode declares against what its evidence proves. Placement, pricing and the Node's labels
// start from the declaration (spec.tee, spec.gpus.model, spec.gpus.count), so a node is attested only when
// the verified evidence says the same: the CPU evidence's family (a report chained to a simulated root is
// "simulated" whatever its format), one GPU report per declared GPU, and each GPU's model as its signed
// fields give it. A GPU whose evidence names no model cannot confirm a declared one and is refused.
// Pure; the bundle verifier runs it after the evidence itself verified.
import type { ProviderNodeSpec } from '../api/providernode.js';
import { reason, type Reason } from './reasons.js';

/** The ProviderNode's claims (spec.tee, spec.gpus). */
export interface DeclaredNode {
  tee: ProviderNodeSpec['tee'];
  gpus: { model: string; count: number };
}

/** What verified evidence says (BundleClaims in the shape this check needs). */
export interface ProvenNode {
  cpuType?: 'sev-snp' | 'tdx' | 'simulated';
  /** True when any part chained to a policy-added (simulated) root. */
  simulated: boolean;
  gpus: { model?: string; chip?: string }[];
}

/** The TEE the evidence proves: simulated whenever any part is, otherwise the CPU evidence's family. */
export function provenTee(proven: ProvenNode): ProviderNodeSpec['tee'] | undefined {
  if (proven.simulated || proven.cpuType === 'simulated') return 'simulated';
  return proven.cpuType;
}

export function declaredVsProven(declared: DeclaredNode, proven: ProvenNode): Reason[] {
  const out: Reason[] = [];
  const tee = provenTee(proven);
  if (tee !== declared.tee) {
    out.push(reason('DECLARED_MISMATCH', `spec.tee is ${declared.tee} but the evidence proves ${tee ?? 'no TEE'}${tee === 'simulated' && declared.tee !== 'simulated' ? ' (simulated evidence never stands for a hardware TEE)' : ''}; set spec.tee to what the host runs`));
  }
  if (proven.gpus.length !== declared.gpus.count) {
    out.push(reason('DECLARED_MISMATCH', `spec.gpus.count is ${declared.gpus.count} but the evidence proves ${proven.gpus.length} GPU(s)`));
  }
  proven.gpus.forEach((g, i) => {
    if (g.model === undefined) {
      out.push(reason('DECLARED_MISMATCH', `spec.gpus.model is ${declared.gpus.model} but GPU ${i}'s evidence does not identify its model (chip ${g.chip ?? 'unknown'})`));
    } else if (g.model !== declared.gpus.model) {
      out.push(reason('DECLARED_MISMATCH', `spec.gpus.model is ${declared.gpus.model} but GPU ${i}'s evidence proves ${g.model}`));
    }
  });
  return out;
}
