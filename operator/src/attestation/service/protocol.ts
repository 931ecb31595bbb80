// The attestation service's wire protocol: what attesters (node probes and replica sidecars) send and
// receive. JSON over HTTPS; every request carries `Authorization: Bearer <ServiceAccount token>` whose
// audience is ATTESTATION_AUDIENCE. Binary fields are base64 (standard alphabet), hashes and keys hex.
//
//   POST /v1/challenge  ChallengeRequest  -> ChallengeResponse   (a fresh nonce for this subject)
//   POST /v1/evidence   EvidenceRequest   -> EvidenceResponse    (the verdict; status is updated)
//   POST /v1/usage      SignedUsageReport -> UsageResponse       (replicas only, signed by the attested key)
//   GET  /healthz                                                   (liveness, no auth)

export const ATTESTATION_AUDIENCE = 'chrysalis-attestation';

/**
 * The most a request body may be, per endpoint: what the evidence really needs, with room. A challenge
 * request is a subject (about 100 bytes); a signed usage report about 600. Evidence is the largest: one
 * CPU report (an SEV-SNP report with its VCEK and ASK/ARK chain, about 9 KiB in base64 and PEM; a TDX
 * quote with its embedded PCK chain, about 7 KiB) and up to 16 GPU reports (SPDM measurements and the
 * device chain, about 11 KiB each): under 200 KiB, so the limit leaves twice that.
 */
export const MAX_BODY_BYTES = {
  '/v1/challenge': 4 * 1024,
  '/v1/evidence': 384 * 1024,
  '/v1/usage': 8 * 1024,
  '/v1/standing': 4 * 1024,
} as const;

export const PATHS = {
  challenge: '/v1/challenge',
  evidence: '/v1/evidence',
  usage: '/v1/usage',
  standing: '/v1/standing',
} as const;

/** Who is being attested: a GPU host (its ProviderNode) or one replica Pod of an InferencePool. */
export type Subject =
  | { kind: 'node'; nodeName: string }
  | { kind: 'replica'; namespace: string; pod: string };

export interface ChallengeRequest {
  subject: Subject;
}

export interface ChallengeResponse {
  /** 32 random bytes, hex. report_data must be SHA-512(nonce ‖ publicKey); GPU reports use it as the SPDM nonce. */
  nonce: string;
  /** ISO-8601; evidence for this nonce arriving later is rejected. */
  expiresAt: string;
}

/**
 * A node's standing as the operator sees it (POST /v1/standing with a node subject, from the node's own
 * attester): how the attester learns of a quarantine it did not cause by its own answers (GpuStateChanged),
 * so the GPUs stop taking work. Times are the apiserver's, comparable with each other.
 */
export interface NodeStanding {
  /** When the node's last evidence passed (ProviderNode status.attestation.verifiedAt). */
  verifiedAt?: string;
  /** The operator's Quarantined condition is True. */
  quarantined: boolean;
  /** With quarantined: the condition's reason and message and when it became True. */
  quarantineReason?: string;
  quarantineMessage?: string;
  quarantinedSince?: string;
}

export type CpuEvidence =
  | {
      type: 'sev-snp';
      /** The 0x4A0-byte attestation report. */
      report: string;
      /** VCEK or VLEK certificate (DER, base64) from the TSM auxblob / cert table. */
      vcek?: string;
      /** ASK/ASVK + ARK PEM bundle when the host has one; optional since vendor chains ship with the verifier. */
      chain?: string;
    }
  | {
      type: 'tdx';
      /** The TDX quote (v4/v5) with its embedded PCK certificate chain. */
      quote: string;
    }
  | {
      /** The simulated TEE: SEV-SNP byte format signed by a local test chain (trusted only with allowSimulated). */
      type: 'simulated';
      report: string;
      vcek: string;
      /** PEM bundle of the simulated ASK and ARK. */
      chain: string;
    };

export interface GpuEvidence {
  /** NVML device index. */
  index: number;
  /** SPDM GET_MEASUREMENTS request ‖ response, base64. */
  report: string;
  /** The GPU's device certificate chain, PEM bundle (leaf first). */
  certChain: string;
}

export interface EvidenceRequest {
  subject: Subject;
  nonce: string;
  /** The attester's Ed25519 public key (32 bytes, hex), bound by report_data. */
  publicKey: string;
  cpu: CpuEvidence;
  gpus: GpuEvidence[];
}

export interface Reason {
  code: string;
  message: string;
}

export interface EvidenceResponse {
  verified: boolean;
  reasons: Reason[];
  /** When verified: when this attestation lapses and must be renewed. */
  expiresAt?: string;
}

/** Cumulative counters since the replica's attester started; a new bootId means a restart. */
export interface UsageCounters {
  promptTokens: string;
  generationTokens: string;
  gpuSeconds: string;
  /** Of promptTokens, those the server read from its prefix cache (priced by their own multiplier); absent means 0. */
  cachedPromptTokens?: string;
}

export interface UsageReport {
  namespace: string;
  pod: string;
  /** Random per attester start: counters restart from zero under a new bootId. */
  bootId: string;
  /** Increases by one per report within a bootId; a replayed or reordered report is rejected. */
  sequence: number;
  counters: UsageCounters;
  at: string;
}

export interface SignedUsageReport {
  report: UsageReport;
  /** Ed25519 signature over canonicalJson(report), hex, by the key the replica's attestation bound. */
  signature: string;
}

export interface UsageResponse {
  accepted: boolean;
  reasons: Reason[];
}

/** Deterministic JSON (sorted keys, no whitespace): what usage signatures cover. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
