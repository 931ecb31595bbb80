// The operator's configuration: a YAML file (the chart mounts it from a ConfigMap) merged over defaults.
// Unknown keys and wrong types are rejected with the key's path, so a typo never silently falls back.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SCHEDULER_NAME } from './marks.js';
import { DEFAULT_COLLATERAL_CONFIG, parseCollateralConfig, type CollateralConfig } from './attestation/collateral/config.js';
import type { TeeType } from './placement/types.js';
import { DEFAULT_GATEWAY_INFERENCE_EXTENSION, type GatewayInferenceExtensionConfig } from './controllers/inferencepool/gateway-inference-pool.js';
import { parsePolicy } from './attestation/policy.js';

export interface OperatorConfig {
  /** Scheduler name on replica Pods; the operator binds them itself. */
  schedulerName: string;
  /** Extended resource the GPUs are advertised as on Nodes. */
  gpuResourceName: string;
  /** RuntimeClass per TEE type for replica Pods (e.g. kata-qemu-snp); absent = no runtimeClassName. */
  runtimeClassByTee: Partial<Record<TeeType, string>>;
  /** AttestationPolicy used by ProviderNodes without a policyRef. */
  defaultPolicyName: string;
  /**
   * The spec of the policy the operator creates as defaultPolicyName whenever none of that name exists
   * (the chart's defaultPolicy.*); it never changes one that exists, so edits are the cluster's own.
   * Absent: it creates none. Checked at start as the verifier reads a policy.
   */
  defaultPolicySpec?: Record<string, unknown>;
  /** How long a challenge nonce stays valid. */
  challengeTtlSeconds: number;
  /**
   * Node challenges outstanding at most (issued, not yet answered); 0: no bound. Nodes past it wait for
   * a slot, so a cold start is challenged at the pace verification absorbs (challenge-slots.ts).
   */
  maxOutstandingChallenges: number;
  /** Image and args of the attestation sidecar injected into replica Pods. */
  attesterImage: string;
  /** URL replica sidecars and node probes use to reach the attestation service. */
  attestationServiceUrl: string;
  /**
   * PEM file of the CA that signed the attestation service's certificate (the chart mounts its TLS
   * Secret's ca.crt); read at start into attestationCa, which replica sidecars are given for --ca.
   */
  attestationCaFile?: string;
  /** That CA's PEM; absent: the sidecars trust the system roots. */
  attestationCa?: string;
  /**
   * The node attesters' ServiceAccount (the chart's attester DaemonSet). Node challenges and node
   * evidence are accepted only from a token of this account bound to the node (or to a Pod on it): any
   * other Pod on the node can mount a token for the service's audience, and must not attest the node.
   * Written `namespace/name`; the `--attester-service-account` flag overrides it.
   */
  attesterServiceAccount: ServiceAccountRef;
  /**
   * Where configfs-tsm is on the hosts (the chart's attester.tsm.hostPath): a node-cvm replica's
   * attester sidecar mounts it from there, as the node attester does.
   */
  tsmHostPath: string;
  /**
   * Each replica sidecar renews its attestation at least this often (its --reattest-interval); absent:
   * the sidecar's own default, hourly at most and shortly before the attestation lapses. On a
   * node-cvm host a replica's renewal also looks at the host's CPU and GPUs, and one that fails there
   * re-checks the host at once (attestation/service/host-suspect.ts): renewing more often than the policy
   * re-checks hosts finds a host's fault sooner, for one verification per replica per renewal.
   */
  replicaRenewSeconds?: number;
  /** TokenReviews the attestation service may send per second for tokens it has not cached (all callers together). */
  tokenReviewsPerSecond: number;
  /**
   * Their burst. It exceeds a paced cold start's first wave (three quarters of maxOutstandingChallenges
   * attesters, each with a token not yet reviewed): below it, part of that wave is refused with 429 and
   * retried seconds later (npm run bench -- admission).
   */
  tokenReviewBurst: number;
  /** Requests one authenticated caller (one node attester, one replica Pod) may make per second, and its burst. */
  requestsPerCallerPerSecond: number;
  requestBurstPerCaller: number;
  /**
   * Usage reports one attestation-service replica serves at a time; more are answered 429 and come again
   * at the replica's next interval with the same cumulative counters, so attestation is never queued behind
   * metering (attestation/service/usage-admission.ts).
   */
  maxUsageReportsInFlight: number;
  /** Where the attestation service gets TDX collateral and when it refreshes it (attestation/collateral/config.ts). */
  collateral: CollateralConfig;
  /**
   * The Gateway API Inference Extension InferencePool written beside each pool while that CRD is
   * installed: on or off, and the endpoint picker it names (controllers/inferencepool/gateway-inference-pool.ts).
   */
  gatewayInferenceExtension: GatewayInferenceExtensionConfig;
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export const DEFAULT_CONFIG: OperatorConfig = {
  schedulerName: SCHEDULER_NAME,
  gpuResourceName: 'nvidia.com/gpu',
  runtimeClassByTee: {},
  defaultPolicyName: 'default',
  defaultPolicySpec: undefined,
  // Optional keys are spelled out (undefined) so that an unknown key's error lists them among the known.
  attestationCaFile: undefined,
  replicaRenewSeconds: undefined,
  challengeTtlSeconds: 300,
  maxOutstandingChallenges: 128,
  attesterImage: 'ghcr.io/chrysalis-dev/attester:0.1.0',
  attestationServiceUrl: 'https://chrysalis-attestation.chrysalis-system.svc:8443',
  attesterServiceAccount: { namespace: 'chrysalis-system', name: 'chrysalis-attester' },
  tsmHostPath: '/sys/kernel/config/tsm',
  tokenReviewsPerSecond: 50,
  tokenReviewBurst: 300,
  requestsPerCallerPerSecond: 2,
  requestBurstPerCaller: 20,
  maxUsageReportsInFlight: 32,
  collateral: DEFAULT_COLLATERAL_CONFIG,
  gatewayInferenceExtension: DEFAULT_GATEWAY_INFERENCE_EXTENSION,
};

export class ConfigError extends Error {}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `namespace/name` of a ServiceAccount; `field` names the key or flag in the error. */
export function parseServiceAccountRef(value: unknown, field: string): ServiceAccountRef {
  const m = typeof value === 'string' ? /^([^/]+)\/([^/]+)$/.exec(value) : null;
  if (!m || !DNS_LABEL.test(m[1]!) || !SA_NAME.test(m[2]!)) {
    throw new ConfigError(`${field} must be a ServiceAccount as <namespace>/<name>, e.g. chrysalis-system/chrysalis-attester (got ${JSON.stringify(value)})`);
  }
  return { namespace: m[1]!, name: m[2]! };
}

export function parseOperatorConfig(text: string, source = 'config'): OperatorConfig {
  const raw: unknown = parse(text) ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: expected a mapping at the top level`);
  const config: OperatorConfig = { ...DEFAULT_CONFIG, runtimeClassByTee: { ...DEFAULT_CONFIG.runtimeClassByTee }, attesterServiceAccount: { ...DEFAULT_CONFIG.attesterServiceAccount } };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    switch (key) {
      case 'schedulerName':
      case 'gpuResourceName':
      case 'defaultPolicyName':
      case 'attesterImage':
      case 'attestationServiceUrl':
      case 'attestationCaFile':
        if (typeof value !== 'string' || value === '') throw new ConfigError(`${source}: ${key} must be a non-empty string`);
        config[key] = value;
        break;
      case 'challengeTtlSeconds':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 10 || value > 86400) {
          throw new ConfigError(`${source}: challengeTtlSeconds must be an integer between 10 and 86400`);
        }
        config.challengeTtlSeconds = value;
        break;
      case 'maxOutstandingChallenges':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (value > 0 && value < 4) || value > 100000) {
          throw new ConfigError(`${source}: maxOutstandingChallenges must be 0 (no bound) or an integer between 4 and 100000 (got ${JSON.stringify(value)})`);
        }
        config.maxOutstandingChallenges = value;
        break;
      case 'attesterServiceAccount':
        config.attesterServiceAccount = parseServiceAccountRef(value, `${source}: attesterServiceAccount`);
        break;
      case 'tsmHostPath':
        if (typeof value !== 'string' || !value.startsWith('/') || value.split('/').includes('..')) {
          throw new ConfigError(`${source}: tsmHostPath must be an absolute host path without "..", e.g. /sys/kernel/config/tsm (got ${JSON.stringify(value)})`);
        }
        config.tsmHostPath = value;
        break;
      case 'tokenReviewsPerSecond':
      case 'tokenReviewBurst':
      case 'requestsPerCallerPerSecond':
      case 'requestBurstPerCaller':
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 100_000) {
          throw new ConfigError(`${source}: ${key} must be a number above 0 and at most 100000`);
        }
        config[key] = value;
        break;
      case 'replicaRenewSeconds':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 30 || value > 86_400) {
          throw new ConfigError(`${source}: replicaRenewSeconds must be a whole number of seconds from 30 to 86400, or left out to renew only before the attestation lapses (got ${JSON.stringify(value)})`);
        }
        config.replicaRenewSeconds = value;
        break;
      case 'maxUsageReportsInFlight':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100_000) {
          throw new ConfigError(`${source}: maxUsageReportsInFlight must be a whole number from 1 to 100000 (got ${JSON.stringify(value)})`);
        }
        config.maxUsageReportsInFlight = value;
        break;
      case 'collateral':
        try {
          config.collateral = parseCollateralConfig(value, source);
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
        break;
      case 'defaultPolicySpec':
        if (value === null) break;
        if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${source}: defaultPolicySpec must be a mapping, an AttestationPolicy's spec (kubectl explain attestationpolicies.chrysalis.dev.spec)`);
        try {
          parsePolicy(value);
        } catch (err) {
          throw new ConfigError(`${source}: defaultPolicySpec: ${(err as Error).message}`);
        }
        config.defaultPolicySpec = value as Record<string, unknown>;
        break;
      case 'gatewayInferenceExtension':
        config.gatewayInferenceExtension = parseGatewayInferenceExtension(value, source);
        break;
      case 'runtimeClassByTee':
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${source}: runtimeClassByTee must be a mapping of TEE type to RuntimeClass name`);
        for (const [tee, cls] of Object.entries(value as Record<string, unknown>)) {
          if (tee !== 'sev-snp' && tee !== 'tdx' && tee !== 'simulated') throw new ConfigError(`${source}: runtimeClassByTee.${tee} is not a TEE type (use sev-snp, tdx or simulated)`);
          if (typeof cls !== 'string' || cls === '') throw new ConfigError(`${source}: runtimeClassByTee.${tee} must be a RuntimeClass name`);
          config.runtimeClassByTee[tee] = cls;
        }
        break;
      default:
        throw new ConfigError(`${source}: unknown key "${key}" (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`);
    }
  }
  return config;
}

function parseGatewayInferenceExtension(value: unknown, source: string): GatewayInferenceExtensionConfig {
  const field = `${source}: gatewayInferenceExtension`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${field} must be a mapping with enabled and endpointPicker`);
  const out: GatewayInferenceExtensionConfig = { ...DEFAULT_GATEWAY_INFERENCE_EXTENSION, endpointPicker: { ...DEFAULT_GATEWAY_INFERENCE_EXTENSION.endpointPicker } };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'enabled') {
      if (typeof v !== 'boolean') throw new ConfigError(`${field}.enabled must be true or false`);
      out.enabled = v;
    } else if (key === 'endpointPicker') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${field}.endpointPicker must be a mapping with serviceSuffix, port and failureMode`);
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k === 'serviceSuffix') {
          // Appended to a pool name (at most 63 characters) it must still name a Service.
          if (typeof x !== 'string' || !/^[-a-z0-9]{0,40}$/.test(x)) throw new ConfigError(`${field}.endpointPicker.serviceSuffix must be at most 40 lowercase letters, digits or '-' (e.g. -epp), appended to the pool's name`);
          out.endpointPicker.serviceSuffix = x;
        } else if (k === 'port') {
          if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 65535) throw new ConfigError(`${field}.endpointPicker.port must be a port number between 1 and 65535 (the extension's default is 9002)`);
          out.endpointPicker.port = x;
        } else if (k === 'failureMode') {
          if (x !== 'FailClose' && x !== 'FailOpen') throw new ConfigError(`${field}.endpointPicker.failureMode must be FailClose or FailOpen`);
          out.endpointPicker.failureMode = x;
        } else {
          throw new ConfigError(`${field}.endpointPicker: unknown key "${k}" (known: serviceSuffix, port, failureMode)`);
        }
      }
    } else {
      throw new ConfigError(`${field}: unknown key "${key}" (known: enabled, endpointPicker)`);
    }
  }
  return out;
}

function readAttestationCa(file: string, source: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${source}: attestationCaFile ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); mount the attestation service's CA there or remove the key`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${source}: attestationCaFile ${file} holds no PEM certificate`);
  return pem.trim() + '\n';
}

export function loadOperatorConfig(path: string | undefined, overrides: { attesterServiceAccount?: string } = {}): OperatorConfig {
  const parsed = path ? parseOperatorConfig(readFileSync(path, 'utf8'), path) : DEFAULT_CONFIG;
  const config = parsed.attestationCaFile ? { ...parsed, attestationCa: readAttestationCa(parsed.attestationCaFile, path ?? 'config') } : parsed;
  // Flags win over the file.
  if (overrides.attesterServiceAccount === undefined) return config;
  return { ...config, attesterServiceAccount: parseServiceAccountRef(overrides.attesterServiceAccount, '--attester-service-account') };
}
