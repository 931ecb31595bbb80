// NVML (libnvidia-ml.so) through koffi, loaded only when GPU evidence is first asked for, so a host or a
// test without the library never touches it. Everything the attester needs from NVML goes through the
// small NvmlBinding interface below; tests inject a fake binding behind the same interface.
//
// Declarations follow nvml.h (CUDA 12.2+ / driver R535+, where the confidential-computing API appeared):
//   nvmlReturn_t nvmlInit_v2(void); nvmlReturn_t nvmlShutdown(void); const char *nvmlErrorString(nvmlReturn_t);
//   nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount);
//   nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);  // opaque pointer
//   nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);            // 80-byte buffer
//   nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t, char *version, unsigned int length); // 32-byte buffer
//   nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state);
//   nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork);
//   nvmlReturn_t nvmlSystemSetConfComputeGpusReadyState(unsigned int isAcceptingWork);
//   nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(nvmlDevice_t, nvmlConfComputeGpuAttestationReport_t *);
//   nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t, nvmlConfComputeGpuCertificate_t *);
// The structs are passed as plain byte buffers at the offsets below: every member is an unsigned int or
// an unsigned char array, so there is no padding and the layout is the same on every 64-bit ABI.
import { createRequire } from 'node:module';
import { AttesterError } from '../errors.js';

/** nvmlConfComputeSystemState_t { unsigned int environment, ccFeature, devToolsMode; } */
export interface ConfComputeState {
  /** NVML_CC_SYSTEM_ENVIRONMENT_{UNAVAILABLE=0, SIM=1, PROD=2}. */
  environment: number;
  /** NVML_CC_SYSTEM_FEATURE_{DISABLED=0, ENABLED=1}. */
  ccFeature: number;
  /** NVML_CC_SYSTEM_DEVTOOLS_MODE_{OFF=0, ON=1}: debugging tools can see GPU memory. */
  devToolsMode: number;
}

export const CC_FEATURE_ENABLED = 1;
export const CC_DEVTOOLS_ON = 1;
/** NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE: the GPUs in CC mode accept new work. */
export const CC_GPUS_READY = 1;
/** NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE: what a CC-mode driver starts with; no new work is accepted. */
export const CC_GPUS_NOT_READY = 0;

export const NVML_CC_NONCE_BYTES = 0x20; // NVML_CC_GPU_CEC_NONCE_SIZE

export interface GpuAttestationReport {
  /** SPDM GET_MEASUREMENTS request ‖ response (attestationReport[0 .. attestationReportSize)). */
  report: Uint8Array;
  /** The CEC (baseboard) report when isCecAttestationReportPresent; not sent today. */
  cecReport: Uint8Array | undefined;
}

export interface GpuCertificates {
  /** certChain[0 .. certChainSize): the GPU's device certificate chain. */
  certChain: Uint8Array;
  /** attestationCertChain[0 .. attestationCertChainSize): the chain whose leaf signs attestation reports. */
  attestationCertChain: Uint8Array;
}

/** What the attester needs from NVML. Calls throw AttesterError('NVML_FAILED') with nvmlErrorString. */
export interface NvmlBinding {
  init(): void;
  shutdown(): void;
  deviceCount(): number;
  driverVersion(): string;
  vbiosVersion(index: number): string;
  confComputeState(): ConfComputeState;
  /** nvmlSystemGetConfComputeGpusReadyState: CC_GPUS_READY (1) when the GPUs accept work, CC_GPUS_NOT_READY (0) otherwise. */
  gpusReadyState(): number;
  /**
   * nvmlSystemSetConfComputeGpusReadyState(CC_GPUS_READY or CC_GPUS_NOT_READY): whether the GPUs (all of
   * them: the state is system-wide) accept new work. The attester's only write to the driver; CC mode itself
   * is never changed.
   */
  setGpusReadyState(isAcceptingWork: number): void;
  attestationReport(index: number, nonce: Uint8Array): GpuAttestationReport;
  certificates(index: number): GpuCertificates;
}

// nvmlConfComputeGpuAttestationReport_t: isCecAttestationReportPresent u32 @0, attestationReportSize u32 @4,
// cecAttestationReportSize u32 @8, nonce[0x20] @12, attestationReport[0x2000] @44, cecAttestationReport[0x1000] @8236.
export const REPORT_STRUCT = {
  isCecPresent: 0,
  reportSize: 4,
  cecReportSize: 8,
  nonce: 12,
  report: 12 + 0x20,
  reportCapacity: 0x2000, // NVML_CC_GPU_ATTESTATION_REPORT_SIZE
  cecReport: 12 + 0x20 + 0x2000,
  cecReportCapacity: 0x1000, // NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE
  size: 12 + 0x20 + 0x2000 + 0x1000,
} as const;

// nvmlConfComputeGpuCertificate_t: certChainSize u32 @0, attestationCertChainSize u32 @4,
// certChain[0x1000] @8, attestationCertChain[0x1400] @4104.
export const CERT_STRUCT = {
  certChainSize: 0,
  attestationCertChainSize: 4,
  certChain: 8,
  certChainCapacity: 0x1000, // NVML_GPU_CERT_CHAIN_SIZE
  attestationCertChain: 8 + 0x1000,
  attestationCertChainCapacity: 0x1400, // NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE
  size: 8 + 0x1000 + 0x1400,
} as const;

/** Reads a size member and the bytes it describes, refusing sizes larger than the array. */
function sizedBytes(buf: Buffer, sizeAt: number, dataAt: number, capacity: number, what: string): Uint8Array {
  const size = buf.readUInt32LE(sizeAt);
  if (size > capacity) throw new AttesterError('NVML_FAILED', `NVML reported ${what} of ${size} bytes, more than its ${capacity}-byte array`);
  return new Uint8Array(buf.subarray(dataAt, dataAt + size));
}

export function decodeReportStruct(buf: Buffer): GpuAttestationReport {
  const report = sizedBytes(buf, REPORT_STRUCT.reportSize, REPORT_STRUCT.report, REPORT_STRUCT.reportCapacity, 'an attestation report');
  const cecPresent = buf.readUInt32LE(REPORT_STRUCT.isCecPresent) === 1;
  const cecReport = cecPresent
    ? sizedBytes(buf, REPORT_STRUCT.cecReportSize, REPORT_STRUCT.cecReport, REPORT_STRUCT.cecReportCapacity, 'a CEC report')
    : undefined;
  return { report, cecReport };
}

export function decodeCertStruct(buf: Buffer): GpuCertificates {
  return {
    certChain: sizedBytes(buf, CERT_STRUCT.certChainSize, CERT_STRUCT.certChain, CERT_STRUCT.certChainCapacity, 'a certificate chain'),
    attestationCertChain: sizedBytes(buf, CERT_STRUCT.attestationCertChainSize, CERT_STRUCT.attestationCertChain, CERT_STRUCT.attestationCertChainCapacity, 'an attestation certificate chain'),
  };
}

/** Library names tried in order when no path is given (the .so.1 is what the driver installs). */
export const DEFAULT_NVML_LIBRARIES = ['libnvidia-ml.so.1', 'libnvidia-ml.so'];

const NVML_SUCCESS = 0;

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
}

/**
 * Loads libnvidia-ml through koffi. Throws NVML_UNAVAILABLE (one line) when koffi or the library cannot
 * be loaded or a needed symbol is missing (a driver older than the CC API).
 */
export function loadNvml(libraryPath?: string): NvmlBinding {
  // koffi is required lazily: a host that never asks for GPU evidence never loads native code.
  type Koffi = typeof import('koffi');
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    throw new AttesterError('NVML_UNAVAILABLE', `the koffi FFI package cannot be loaded (${(err as Error).message.split('\n')[0]}); reinstall dependencies with npm ci`);
  }
  const candidates = libraryPath ? [libraryPath] : DEFAULT_NVML_LIBRARIES;
  let lib: ReturnType<Koffi['load']> | undefined;
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (!lib) {
    throw new AttesterError('NVML_UNAVAILABLE', `libnvidia-ml.so cannot be loaded (${failures.join('; ')}); install the NVIDIA driver (R535 or newer) or pass --nvml-lib, or --gpu none on a host without GPUs`);
  }

  // Anonymous, not named 'nvmlDevice_t': koffi's names are process-wide, and a second loadNvml (a probe
  // beside the daemon's source, a test) would fail with 'Duplicate type name'.
  const device = koffi.pointer(koffi.opaque());
  let fn: Record<string, (...args: unknown[]) => number>;
  let errorString: (code: number) => string;
  try {
    fn = {
      init: lib.func('int nvmlInit_v2(void)'),
      shutdown: lib.func('int nvmlShutdown(void)'),
      count: lib.func('int nvmlDeviceGetCount_v2(_Out_ uint32_t *count)'),
      handle: lib.func('nvmlDeviceGetHandleByIndex_v2', 'int', ['uint32_t', koffi.out(koffi.pointer(device))]),
      driver: lib.func('int nvmlSystemGetDriverVersion(_Out_ uint8_t *version, uint32_t length)'),
      vbios: lib.func('nvmlDeviceGetVbiosVersion', 'int', [device, koffi.out(koffi.pointer('uint8_t')), 'uint32_t']),
      ccState: lib.func('int nvmlSystemGetConfComputeState(_Inout_ uint8_t *state)'),
      ready: lib.func('int nvmlSystemGetConfComputeGpusReadyState(_Out_ uint32_t *isAcceptingWork)'),
      setReady: lib.func('int nvmlSystemSetConfComputeGpusReadyState(uint32_t isAcceptingWork)'),
      report: lib.func('nvmlDeviceGetConfComputeGpuAttestationReport', 'int', [device, koffi.inout(koffi.pointer('uint8_t'))]),
      cert: lib.func('nvmlDeviceGetConfComputeGpuCertificate', 'int', [device, koffi.inout(koffi.pointer('uint8_t'))]),
    };
    errorString = lib.func('const char *nvmlErrorString(int result)') as (code: number) => string;
  } catch (err) {
    throw new AttesterError('NVML_UNAVAILABLE', `libnvidia-ml.so lacks a confidential-computing entry point (${(err as Error).message.split('\n')[0]}); the driver must be R535 or newer`);
  }

  const check = (what: string, rc: number): void => {
    if (rc !== NVML_SUCCESS) throw new AttesterError('NVML_FAILED', `${what} failed: ${errorString(rc)} (nvmlReturn_t ${rc})`);
  };
  const handleOf = (index: number): unknown => {
    const out: unknown[] = [null];
    check(`nvmlDeviceGetHandleByIndex_v2(${index})`, fn.handle!(index, out));
    return out[0];
  };

  return {
    init: () => check('nvmlInit_v2', fn.init!()),
    shutdown: () => check('nvmlShutdown', fn.shutdown!()),
    deviceCount: () => {
      const out = [0];
      check('nvmlDeviceGetCount_v2', fn.count!(out));
      return out[0]!;
    },
    driverVersion: () => {
      const buf = Buffer.alloc(80); // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
      check('nvmlSystemGetDriverVersion', fn.driver!(buf, buf.length));
      return cString(buf);
    },
    vbiosVersion: (index) => {
      const buf = Buffer.alloc(32); // NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE
      check(`nvmlDeviceGetVbiosVersion(${index})`, fn.vbios!(handleOf(index), buf, buf.length));
      return cString(buf);
    },
    confComputeState: () => {
      const buf = Buffer.alloc(12);
      check('nvmlSystemGetConfComputeState', fn.ccState!(buf));
      return { environment: buf.readUInt32LE(0), ccFeature: buf.readUInt32LE(4), devToolsMode: buf.readUInt32LE(8) };
    },
    gpusReadyState: () => {
      const out = [0];
      check('nvmlSystemGetConfComputeGpusReadyState', fn.ready!(out));
      return out[0]!;
    },
    setGpusReadyState: (isAcceptingWork) => {
      // nvml.h knows two values; anything else would reach the driver as NVML_ERROR_INVALID_ARGUMENT at best.
      if (isAcceptingWork !== CC_GPUS_READY && isAcceptingWork !== CC_GPUS_NOT_READY) {
        throw new AttesterError('NVML_FAILED', `the GPUs' ready state is ${CC_GPUS_NOT_READY} or ${CC_GPUS_READY}, not ${isAcceptingWork}`);
      }
      check(`nvmlSystemSetConfComputeGpusReadyState(${isAcceptingWork})`, fn.setReady!(isAcceptingWork));
    },
    attestationReport: (index, nonce) => {
      if (nonce.length !== NVML_CC_NONCE_BYTES) throw new AttesterError('NVML_FAILED', `GPU nonce must be ${NVML_CC_NONCE_BYTES} bytes, got ${nonce.length}`);
      const buf = Buffer.alloc(REPORT_STRUCT.size);
      buf.set(nonce, REPORT_STRUCT.nonce); // input: the SPDM nonce the report must carry
      check(`nvmlDeviceGetConfComputeGpuAttestationReport(${index})`, fn.report!(handleOf(index), buf));
      return decodeReportStruct(buf);
    },
    certificates: (index) => {
      const buf = Buffer.alloc(CERT_STRUCT.size);
      check(`nvmlDeviceGetConfComputeGpuCertificate(${index})`, fn.cert!(handleOf(index), buf));
      return decodeCertStruct(buf);
    },
  };
}
