// The attester's programmatic API: what the CLI (cli.ts) and the fleet simulator build on. The fleet
// simulator runs many Attesters in one process, each with its own identity, sharing one SimulatedTee and
// one Transport if it likes; nothing here reads the environment or installs signal handlers.
export { Attester, renewalDelayMs, type AttesterOptions, type AttestationOutcome } from './attester.js';
export { AttesterIdentity, parseNonce, reportDataFor } from './identity.js';
export { AttesterError, ATTESTER_ERROR_CODES, exitCodeFor, type AttesterErrorCode } from './errors.js';
export { retryDelay, withRetry, DEFAULT_RETRY, type RetryPolicy, type Sleep } from './backoff.js';
export { HttpsTransport, tokenFromFile, DEFAULT_TOKEN_FILE, type Transport, type HttpsTransportOptions } from './transport.js';
export { TsmCpuSource, cpuEvidenceFromTsm, type CpuEvidenceSource } from './cpu/source.js';
export { tsmReport, requireTsm, nodeTsmIo, DEFAULT_TSM_ROOT, type TsmIo, type TsmOptions, type TsmReport, type TsmProvider } from './cpu/tsm.js';
export { parseCertTable, buildCertTable, SNP_CERT_GUIDS, type SnpCertKind, type SnpCertTable } from './cpu/cert-table.js';
export { NvmlGpuSource, NoGpuSource, chainAsPem, type GpuEvidenceSource, type GpuProbe, type NvmlGpuSourceOptions } from './gpu/source.js';
export { loadNvml, type NvmlBinding, type ConfComputeState, type GpuAttestationReport, type GpuCertificates } from './gpu/nvml.js';
export { SimulatedCpuSource, SimulatedGpuSource, createSimulatedSources, type SimulatedSnpSettings, type SimulatedGpuSettings } from './simulated.js';
export { UsageReporter, GpuClock, reportCounters, type UsageReporterOptions, type TokenSource } from './usage/reporter.js';
export { TokenCounter, type TokenTotals } from './usage/token-counter.js';
export { OpenAIUsageMeter, createUsageTap, prepareRequest, readUsage, isMeteredPath, SseDataReader, METERED_PATHS, type TokenUsage, type UsageTap } from './usage/openai-usage.js';
export { RaTlsGateway, DEFAULT_CERTIFICATE_VALIDITY_MS, CLOCK_SKEW_ALLOWANCE_MS, type RaTlsGatewayOptions, type ServedCertificate } from './gateway/gateway.js';
export { buildRaTlsCertificate, parseRaTlsCertificate, evidenceBundleFrom, raTlsNonce, CHRYSALIS_OID_ARC, RA_TLS_EVIDENCE_OID, RA_TLS_NONCE_DOMAIN, type RaTlsCertificate } from './gateway/ra-tls-certificate.js';
export { EVIDENCE_PATH, type EvidenceMaker } from './gateway/evidence-endpoint.js';
export type { UsageHooks } from './gateway/usage-hooks.js';
