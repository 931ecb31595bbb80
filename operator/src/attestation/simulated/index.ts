// The simulated TEE: one locally generated root with an SNP platform and any number of H100 GPUs under it,
// writing the real byte formats for any nonce. Tests, the demo and the fleet simulator use it; a verifier
// trusts it only with a policy { trustedRoots: [rootPem], allowSimulated: true } (see policy()).
import { createPrivateKey } from 'node:crypto';
import type { VerifierPolicy } from '../policy.js';
import { createGpuCas, DEFAULT_DRIVER_VERSION, DEFAULT_VBIOS_VERSION, SimulatedGpu, type GpuReportRequest, type SimulatedGpuEvidence } from './h100.js';
import { SimulatedSnpPlatform, type SimulatedSnpOptions, type SnpReportRequest, type SimulatedSnpEvidence } from './snp.js';
import { signRim } from './rim.js';
import { createRoot, issue, type IssuedCertificate, type Name, type ValidityWindow } from './test-root.js';

export { SIMULATED_MEASUREMENT } from './snp.js';
export type { GpuReportRequest, SimulatedGpuEvidence, SnpReportRequest, SimulatedSnpEvidence };

export interface SimulatedTeeOptions extends SimulatedSnpOptions {
  /** Number of GPUs (default 1). */
  gpus?: number;
  /** Certificate validity (default: from one day before `now` for `days` days). */
  now?: Date;
  days?: number;
  /** An existing root to issue under (SimulatedTee.exportRoot()), so several processes share one trust anchor. */
  root?: SimulatedRootState;
}

/**
 * The simulated root as a file carries it (the attester's --simulated-state, the chart's
 * attester.simulated.stateSecret): the certificate and its PKCS#8 private key, both PEM. Test material only.
 */
export interface SimulatedRootState {
  certificate: string;
  privateKey: string;
}

const ROOT_NAME: Name = [['CN', 'Chrysalis Simulated TEE Root'], ['O', 'Chrysalis Simulated TEE']];

function importRoot(state: SimulatedRootState): IssuedCertificate {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(state.certificate ?? '');
  if (!m) throw new Error('simulated state: "certificate" is not a PEM certificate');
  return { der: new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')), pem: `${m[0]}\n`, privateKey: createPrivateKey(state.privateKey), name: ROOT_NAME };
}

export class SimulatedTee {
  private rimSigner: IssuedCertificate | undefined;

  private constructor(
    readonly root: IssuedCertificate,
    readonly snp: SimulatedSnpPlatform,
    readonly gpus: SimulatedGpu[],
    readonly validity: ValidityWindow,
  ) {}

  static create(options: SimulatedTeeOptions = {}): SimulatedTee {
    const now = options.now ?? new Date();
    const validity = { notBefore: new Date(now.getTime() - 86_400_000), notAfter: new Date(now.getTime() + (options.days ?? 365) * 86_400_000) };
    const root = options.root ? importRoot(options.root) : createRoot(ROOT_NAME, validity);
    const snp = SimulatedSnpPlatform.create(root, validity, options);
    const cas = createGpuCas(root, validity);
    const gpus: SimulatedGpu[] = [];
    for (let i = 0; i < (options.gpus ?? 1); i++) gpus.push(SimulatedGpu.create(root, cas, validity));
    return new SimulatedTee(root, snp, gpus, validity);
  }

  get rootPem(): string {
    return this.root.pem;
  }

  /** The root with its private key, for SimulatedTeeOptions.root in another process. */
  exportRoot(): SimulatedRootState {
    return { certificate: this.root.pem, privateKey: this.root.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /** A policy that trusts this simulated root (plus any other settings given). */
  policy(extra: VerifierPolicy = {}): VerifierPolicy {
    return { ...extra, trustedRoots: [...(extra.trustedRoots ?? []), this.root.pem], allowSimulated: true };
  }

  snpReport(request: SnpReportRequest = {}): SimulatedSnpEvidence {
    return this.snp.report(request);
  }

  /**
   * Signed reference values for this TEE's GPUs, as NVIDIA publishes them for real ones: a VBIOS RIM
   * (measurement indexes 0-15) and a driver RIM (16-63) for the given versions (the simulated GPU's
   * defaults otherwise), signed by a RIM signer under the simulated root. Every simulated GPU measures the
   * same firmware, so one pair covers all of them.
   */
  referenceRims(versions: { driverVersion?: string; vbiosVersion?: string } = {}): { driver: string; vbios: string } {
    this.rimSigner ??= issue(this.root, [['CN', 'Simulated RIM Signer'], ['O', 'Chrysalis Simulated TEE']], this.validity, { ca: false });
    const values = this.gpus[0]?.measurementValues() ?? [];
    const entries = (active: (i: number) => boolean) => values.map((v, index) => ({ index, active: active(index), values: [v] }));
    const chain = [this.rimSigner, this.root];
    return {
      driver: signRim({ version: versions.driverVersion ?? DEFAULT_DRIVER_VERSION, entries: entries((i) => i >= 16), chain }),
      vbios: signRim({ version: versions.vbiosVersion ?? DEFAULT_VBIOS_VERSION, entries: entries((i) => i < 16), chain }),
    };
  }

  /** One report per GPU, all for the same nonce. */
  gpuReports(request: GpuReportRequest): SimulatedGpuEvidence[] {
    return this.gpus.map((g) => g.report(request));
  }
}
