// Where GPU evidence comes from: one SPDM report per GPU, bound to the challenge nonce, with the
// certificate chain whose leaf signed it. The NVML source refuses (GPU_CC_DISABLED) rather than send
// anything when the GPUs are not in confidential-computing mode: an empty or non-CC GPU list must never
// reach the service, where a lax policy might let it pass.
import type { GpuEvidence } from '../../../operator/src/attestation/service/protocol.js';
import { AttesterError } from '../errors.js';
import { certificateAsPem } from '../cpu/source.js';
import { CC_DEVTOOLS_ON, CC_FEATURE_ENABLED, CC_GPUS_NOT_READY, CC_GPUS_READY, loadNvml, type ConfComputeState, type NvmlBinding } from './nvml.js';

export interface GpuEvidenceSource {
  readonly name: string;
  /**
   * One report per GPU, each carrying `nonce` (32 bytes) as its SPDM nonce. The attester passes the GPU
   * nonce derived from the challenge and its key (gpuNonceFor in operator/src/attestation/freshness.ts),
   * never the bare challenge nonce.
   */
  collect(nonce: Uint8Array): Promise<GpuEvidence[]>;
  /** Cheap check that the source can work at all (the CLI runs it before contacting the service). */
  preflight?(): Promise<void>;
  /**
   * The driver's confidential-computing "GPUs ready" switch, where the source has one (NVML, the simulated
   * NVML): sets it and resolves only once the driver reports the value set; rejects (AttesterError)
   * otherwise. The node attester's GpuReadyGate is its only caller.
   */
  setGpusReady?(accepting: boolean): Promise<void>;
}

/** What `--probe` prints: the host's GPU confidential-computing state, without producing evidence. */
export interface GpuProbe {
  driverVersion: string;
  ccState: ConfComputeState;
  gpusReady: boolean;
  gpus: { index: number; vbiosVersion: string }[];
}

/** For hosts attested without GPUs (development only: a GPU pool's policy rejects an empty GPU list). */
export class NoGpuSource implements GpuEvidenceSource {
  readonly name = 'none';
  collect(): Promise<GpuEvidence[]> {
    return Promise.resolve([]);
  }
}

/**
 * A chain as the verifier wants it: a PEM bundle, leaf first. NVML returns the attestation chain as
 * concatenated PEM text (NVIDIA's nvtrust verifier splits it on END CERTIFICATE); a DER concatenation is
 * also accepted and converted, so a driver that changes the encoding is not misread.
 */
export function chainAsPem(chain: Uint8Array): string {
  const text = Buffer.from(chain).toString('latin1');
  const pem = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (pem) return pem.map((block) => `${block}\n`).join('');
  const certs: string[] = [];
  for (let at = 0; at < chain.length && chain[at] === 0x30; ) {
    // DER SEQUENCE: tag 0x30, then a short length (< 0x80) or 0x8N followed by N length bytes.
    const first = chain[at + 1] ?? 0;
    let length = first;
    let header = 2;
    if (first & 0x80) {
      const n = first & 0x7f;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + (chain[at + 2 + i] ?? 0);
      header = 2 + n;
    }
    if (at + header + length > chain.length) break;
    certs.push(certificateAsPem(chain.subarray(at, at + header + length)));
    at += header + length;
  }
  if (certs.length === 0) throw new AttesterError('NVML_FAILED', 'the GPU attestation certificate chain from NVML is neither PEM nor DER');
  return certs.join('');
}

export interface NvmlGpuSourceOptions {
  /** Explicit library path (default: libnvidia-ml.so.1, then libnvidia-ml.so). */
  libraryPath?: string;
  /** Injected binding (tests, or an already loaded one); otherwise loaded on first use. */
  binding?: NvmlBinding;
}

export class NvmlGpuSource implements GpuEvidenceSource {
  readonly name = 'nvml';
  #binding: NvmlBinding | undefined;
  constructor(private readonly options: NvmlGpuSourceOptions = {}) {
    this.#binding = options.binding;
  }

  /** Loads NVML on first use: constructing the source never touches native code. */
  private binding(): NvmlBinding {
    this.#binding ??= loadNvml(this.options.libraryPath);
    return this.#binding;
  }

  /** Runs `body` between nvmlInit_v2 and nvmlShutdown. */
  private session<T>(body: (nvml: NvmlBinding) => T): T {
    const nvml = this.binding();
    nvml.init();
    try {
      return body(nvml);
    } finally {
      try {
        nvml.shutdown();
      } catch {
        // A failed shutdown does not change what was read.
      }
    }
  }

  /**
   * Throws GPU_CC_DISABLED unless the GPUs are in production CC mode. The "ready" state is deliberately
   * not required: in NVIDIA's flow the GPUs accept work only after attestation succeeded
   * (`nvidia-smi conf-compute -srs 1`), so evidence has to be produced before they are ready.
   */
  private static requireCc(nvml: NvmlBinding): ConfComputeState {
    const state = nvml.confComputeState();
    if (state.ccFeature !== CC_FEATURE_ENABLED) {
      throw new AttesterError('GPU_CC_DISABLED', `GPU confidential computing is off (NVML ccFeature=${state.ccFeature}, environment=${state.environment}); enable CC mode on the GPUs (nvtrust gpu-admin-tools: nvidia_gpu_tools.py --set-cc-mode=on) and restart the CVM; no evidence was sent`);
    }
    if (state.devToolsMode === CC_DEVTOOLS_ON) {
      throw new AttesterError('GPU_CC_DISABLED', 'GPU confidential computing runs in devtools mode, which lets debuggers read GPU memory; set CC mode to on (not devtools); no evidence was sent');
    }
    return state;
  }

  /** Loads NVML and checks CC mode: NVML_UNAVAILABLE or GPU_CC_DISABLED before anything is sent. */
  preflight(): Promise<void> {
    return new Promise((resolve) => {
      this.session((nvml) => NvmlGpuSource.requireCc(nvml));
      resolve();
    });
  }

  collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    return new Promise((resolve) => {
      resolve(
        this.session((nvml) => {
          NvmlGpuSource.requireCc(nvml);
          const count = nvml.deviceCount();
          if (count === 0) throw new AttesterError('NVML_FAILED', 'NVML sees no GPU on this host (check NVIDIA_VISIBLE_DEVICES and the device plugin)');
          const out: GpuEvidence[] = [];
          for (let index = 0; index < count; index++) {
            const { report } = nvml.attestationReport(index, nonce);
            if (report.length === 0) throw new AttesterError('NVML_FAILED', `GPU ${index} returned an empty attestation report`);
            const { attestationCertChain } = nvml.certificates(index);
            out.push({ index, report: Buffer.from(report).toString('base64'), certChain: chainAsPem(attestationCertChain) });
          }
          return out;
        }),
      );
    });
  }

  /**
   * nvmlSystemSetConfComputeGpusReadyState, then nvmlSystemGetConfComputeGpusReadyState: the write counts
   * only when NVML reports the value written. Releasing (true) requires production CC mode, as evidence
   * does; withholding (false) is tried whatever the mode, since refusing to withhold is never safer.
   */
  setGpusReady(accepting: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.session((nvml) => {
        if (accepting) NvmlGpuSource.requireCc(nvml);
        const wanted = accepting ? CC_GPUS_READY : CC_GPUS_NOT_READY;
        nvml.setGpusReadyState(wanted);
        const now = nvml.gpusReadyState();
        if (now !== wanted) {
          throw new AttesterError('NVML_FAILED', `nvmlSystemSetConfComputeGpusReadyState(${wanted}) succeeded but NVML then reports ready state ${now}`);
        }
      });
      resolve();
    });
  }

  /** The host's GPU CC state and versions, for `--probe`; does not require CC to be on. */
  probe(): GpuProbe {
    return this.session((nvml) => {
      const count = nvml.deviceCount();
      return {
        driverVersion: nvml.driverVersion(),
        ccState: nvml.confComputeState(),
        gpusReady: nvml.gpusReadyState() === CC_GPUS_READY,
        gpus: Array.from({ length: count }, (_, index) => ({ index, vbiosVersion: nvml.vbiosVersion(index) })),
      };
    });
  }
}
