// The simulated TEE as an evidence source: the same byte formats as real SEV-SNP reports and H100 SPDM
// reports, signed by a locally made test chain. The verifier trusts it only under a policy with
// allowSimulated, and status then says `simulated: true`. The fleet simulator passes a signer directly
// (hundreds of attesters in one process share one simulated root); the CLI loads one from a state file.
import type { CpuEvidence, GpuEvidence } from '../../operator/src/attestation/service/protocol.js';
import type { CpuEvidenceSource } from './cpu/source.js';
import { AttesterError } from './errors.js';
import type { GpuEvidenceSource } from './gpu/source.js';

/** What the attester needs from the simulated TEE generator. */
export interface SimulatedSigner {
  /** An SNP-format report carrying `reportData`, its simulated VCEK (DER) and the ASK+ARK PEM bundle. */
  snpReport(reportData: Uint8Array): Promise<{ report: Uint8Array; vcek: Uint8Array; chain: string }>;
  /** An SPDM GET_MEASUREMENTS request ‖ response for GPU `index` with `nonce`, and its PEM chain (leaf first). */
  gpuReport(nonce: Uint8Array, index: number): Promise<{ report: Uint8Array; certChain: string }>;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

export class SimulatedCpuSource implements CpuEvidenceSource {
  readonly name = 'simulated';
  constructor(private readonly signer: SimulatedSigner) {}
  async collect(reportData: Uint8Array): Promise<CpuEvidence> {
    const { report, vcek, chain } = await this.signer.snpReport(reportData);
    return { type: 'simulated', report: b64(report), vcek: b64(vcek), chain };
  }
}

export class SimulatedGpuSource implements GpuEvidenceSource {
  readonly name = 'simulated';
  constructor(private readonly signer: SimulatedSigner, private readonly count = 1) {}
  async collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    const out: GpuEvidence[] = [];
    for (let index = 0; index < this.count; index++) {
      const { report, certChain } = await this.signer.gpuReport(nonce, index);
      out.push({ index, report: b64(report), certChain });
    }
    return out;
  }
}

/** Loads the simulated TEE for the CLI (`--tee simulated` / `--gpu simulated`). */
export async function loadSimulatedSources(statePath: string | undefined, gpus: number): Promise<{ cpu: CpuEvidenceSource; gpu: GpuEvidenceSource }> {
  void statePath;
  void gpus;
  throw new AttesterError('CONFIG_INVALID', 'the simulated TEE generator (operator/src/attestation/simulated) is not available in this build; use --tee tsm');
}
