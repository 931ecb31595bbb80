// The simulated TEE as an evidence source: the project's generator (operator/src/attestation/simulated)
// writes real SEV-SNP report and H100 SPDM bytes signed by a locally made test root. The verifier trusts
// it only under a policy listing that root with allowSimulated, and status then says `simulated: true`.
//
// The fleet simulator passes one SimulatedTee to many attesters in one process. The CLI makes its own at
// start and, with --simulated-root-out, writes the root *certificate* (public) where a test harness can
// put it into the AttestationPolicy; the simulated private keys stay in memory like the attester's own.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { CpuEvidence, GpuEvidence } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee, type GpuReportRequest, type SimulatedRootState, type SnpReportRequest } from '../../operator/src/attestation/simulated/index.js';
import type { CpuEvidenceSource } from './cpu/source.js';
import { AttesterError } from './errors.js';
import type { GpuEvidenceSource } from './gpu/source.js';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Report settings a fleet simulator may vary to inject faults (debug policy, other measurement, ...). */
export type SimulatedSnpSettings = Omit<SnpReportRequest, 'reportData' | 'nonce' | 'publicKey'>;
export type SimulatedGpuSettings = Omit<GpuReportRequest, 'nonce'>;

export class SimulatedCpuSource implements CpuEvidenceSource {
  readonly name = 'simulated';
  constructor(private readonly tee: SimulatedTee, private readonly settings: SimulatedSnpSettings = {}) {}
  collect(reportData: Uint8Array): Promise<CpuEvidence> {
    const { report, vcek, chainPem } = this.tee.snpReport({ ...this.settings, reportData });
    return Promise.resolve({ type: 'simulated', report: b64(report), vcek: b64(vcek), chain: chainPem });
  }
}

/**
 * The simulated GPUs' driver state: NVML's confidential-computing "GPUs ready" switch, FALSE at start as
 * a CC-mode driver boots. Tests and the fleet simulator read it; `failNext` makes the next writes fail as
 * NVML would (e.g. NVML_ERROR_NO_PERMISSION when the attester runs unprivileged).
 */
export class SimulatedGpusReadyState {
  accepting = false;
  /** Every value written, in order. */
  readonly writes: boolean[] = [];
  /** While above zero, each write fails with NVML_FAILED and leaves the state as it was. */
  failNext = 0;
  write(accepting: boolean): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new AttesterError('NVML_FAILED', `nvmlSystemSetConfComputeGpusReadyState(${accepting ? 1 : 0}) failed: Insufficient Permissions (nvmlReturn_t 4) [simulated]`);
    }
    this.writes.push(accepting);
    this.accepting = accepting;
  }
}

export class SimulatedGpuSource implements GpuEvidenceSource {
  readonly name = 'simulated';
  /** The simulated NVML's ready state, which a node attester sets from its verdicts. */
  readonly readyState = new SimulatedGpusReadyState();
  constructor(private readonly tee: SimulatedTee, private readonly settings: SimulatedGpuSettings = {}) {}
  setGpusReady(accepting: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.readyState.write(accepting);
      resolve();
    });
  }
  collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    return Promise.resolve(
      this.tee.gpuReports({ ...this.settings, nonce }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
    );
  }
}

/** The chip id of the simulated machine a root state stands for (64 bytes, as SEV-SNP's CHIP_ID). */
export function simulatedChipId(root: SimulatedRootState): Uint8Array {
  return new Uint8Array(createHash('sha512').update('chrysalis-simulated-chip\0').update(root.certificate).digest());
}

/**
 * For the CLI: a simulated TEE with `gpus` GPUs, under the root in `statePath` (--simulated-state: JSON
 * { certificate, privateKey }, the root a policy already trusts) or a fresh one; its root certificate
 * written to `rootOut` if given.
 */
export async function createSimulatedSources(gpus: number, rootOut?: string, statePath?: string): Promise<{ tee: SimulatedTee; cpu: CpuEvidenceSource; gpu: GpuEvidenceSource }> {
  let root: SimulatedRootState | undefined;
  if (statePath) {
    try {
      root = JSON.parse(await readFile(statePath, 'utf8')) as SimulatedRootState;
      if (typeof root.certificate !== 'string' || typeof root.privateKey !== 'string') throw new Error('it needs "certificate" and "privateKey" (PEM strings)');
    } catch (err) {
      throw new AttesterError('CONFIG_INVALID', `--simulated-state ${statePath} is not a simulated root state: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let tee: SimulatedTee;
  try {
    // One root state stands for one simulated machine: every process given it (the node attester and the
    // replica sidecars of a node-cvm host) reports the same chip id, as processes in one guest do on
    // hardware; a fresh root is another machine with a chip of its own.
    tee = SimulatedTee.create({ gpus, ...(root ? { root, chipId: simulatedChipId(root) } : {}) });
  } catch (err) {
    throw new AttesterError('CONFIG_INVALID', `--simulated-state ${statePath}: ${(err as Error).message}`);
  }
  if (rootOut) {
    try {
      await writeFile(rootOut, tee.rootPem);
    } catch (err) {
      throw new AttesterError('CONFIG_INVALID', `--simulated-root-out ${rootOut} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return { tee, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee) };
}
