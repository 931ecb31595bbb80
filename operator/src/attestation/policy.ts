// The verifier's view of an AttestationPolicy (chrysalis.dev/v1alpha1, cluster-scoped): the spec fields that
// decide a verdict. The operator passes the resource's spec; the CLI reads the same YAML. Everything is
// optional and every default is the strict one, except where the default is documented below.
//
// No policy is not a policy: parsePolicy refuses a missing one (POLICY_NOT_FOUND) and the operator's
// bundle verifier rejects evidence given none, so a lookup that found nothing can never become "allow
// any image". What a policy leaves open is named by unconstrainedChecks, and a policy without an image
// allow list is flagged by allowsAnyImage (the AttestationPolicy's AllowsAnyImage condition).
import type { AttestationPolicySpec, AttestationPolicySpecGpu, AttestationPolicySpecMinimumTcb, AttestationPolicySpecTdx } from '../api/attestationpolicy.js';
import { AttestationError, reason, type Reason } from './reasons.js';

/** SEV-SNP TCB_VERSION components and guest_svn; TDX TEE_TCB_SVN, PCESVN and QE ISVSVN minimums. */
export type MinimumTcb = AttestationPolicySpecMinimumTcb;

/** GPU firmware allow lists and CC mode (ccModeRequired defaults to false: see nvidia/verify.ts). */
export type GpuPolicy = AttestationPolicySpecGpu;

/**
 * TDX collateral and accepted TCB statuses (acceptedTcbStatuses defaults to every status but Revoked:
 * Intel's "OutOfDate" platforms are still genuine TDX; pin a stricter list to demand patched platforms).
 */
export type TdxPolicy = AttestationPolicySpecTdx;

/** AttestationPolicy spec fields that steer the operator (when to re-attest, when to quarantine), not a verdict. */
type OperationalSpecField = 'reattestIntervalSeconds' | 'quarantineGraceSeconds';

/**
 * The AttestationPolicy spec as the verifier uses it (the API's type, each field documented there): the
 * operational fields left out. trustedRoots is honoured only with allowSimulated.
 */
export type VerifierPolicy = Omit<AttestationPolicySpec, OperationalSpecField>;

/**
 * What a verifier applies when its caller passes no policy at all: only the checks the verifier makes on
 * its own (pinned vendor roots, signatures, debug and migration agent forbidden, TDX collateral
 * required). It constrains no measurement, image, HOST_DATA, TCB, VMPL, GPU firmware, CC mode or
 * evidence age (see unconstrainedChecks). Only for offline checks of signatures and chains
 * (`chrysalis attest verify` without --policy, which says so in its output) and tests: the operator
 * never verifies without an AttestationPolicy.
 */
export const DEFAULT_POLICY: VerifierPolicy = Object.freeze({});

/** The checks a policy can leave open, by the evidence families they apply to. */
export const POLICY_CHECKS = {
  measurement: ['sev-snp', 'tdx'],
  imageHash: ['sev-snp', 'tdx'],
  hostData: ['sev-snp'],
  tcb: ['sev-snp', 'tdx'],
  vmpl: ['sev-snp'],
  migrationAgent: ['sev-snp'],
  smt: ['sev-snp'],
  debug: ['sev-snp', 'tdx'],
  gpuDriver: ['nvidia-gpu'],
  gpuVbios: ['nvidia-gpu'],
  gpuCcMode: ['nvidia-gpu'],
  evidenceAge: ['sev-snp', 'tdx', 'nvidia-gpu'],
} as const;

export type PolicyCheck = keyof typeof POLICY_CHECKS;
export type PolicyEvidenceType = 'sev-snp' | 'tdx' | 'nvidia-gpu';

const hasEntries = (list: readonly unknown[] | undefined): boolean => list !== undefined;
const anyMinimum = (min: MinimumTcb | undefined): boolean =>
  min !== undefined && Object.values(min).some((v) => (Array.isArray(v) ? v.some((x) => x > 0) : typeof v === 'number' && v > 0));

/**
 * The checks `policy` leaves open: any value passes them. An absent allow list constrains nothing; an
 * empty one allows nothing (the verifier rejects every value), so it counts as a constraint. With
 * `type`, only the checks that apply to that evidence family.
 */
export function unconstrainedChecks(policy: VerifierPolicy, type?: PolicyEvidenceType): PolicyCheck[] {
  const open: Record<PolicyCheck, boolean> = {
    measurement: !hasEntries(policy.allowedMeasurements),
    imageHash: !hasEntries(policy.allowedImageHashes),
    hostData: !hasEntries(policy.allowedHostData),
    tcb: !anyMinimum(policy.minimumTcb),
    vmpl: !hasEntries(policy.allowedVmpls),
    migrationAgent: policy.migrationAgentAllowed === true,
    smt: policy.smtAllowed !== false,
    debug: policy.debugAllowed === true,
    gpuDriver: !hasEntries(policy.gpu?.driverVersions),
    gpuVbios: !hasEntries(policy.gpu?.vbiosVersions),
    gpuCcMode: policy.gpu?.ccModeRequired !== true,
    evidenceAge: policy.maxEvidenceAgeSeconds === undefined,
  };
  return (Object.keys(POLICY_CHECKS) as PolicyCheck[])
    .filter((check) => open[check] && (type === undefined || (POLICY_CHECKS[check] as readonly string[]).includes(type)));
}

/**
 * True when a policy admits any guest image: it has neither an allowedMeasurements nor an
 * allowedImageHashes list, so any VM that runs on genuine hardware passes. Takes the AttestationPolicy
 * spec as stored (the operator) or as parsed (the verifier).
 */
export function allowsAnyImage(spec: Pick<VerifierPolicy, 'allowedMeasurements' | 'allowedImageHashes'> | undefined): boolean {
  return !hasEntries(spec?.allowedMeasurements) && !hasEntries(spec?.allowedImageHashes);
}

/** HOST_DATA against the policy's allow list (absent list: any value). */
export function checkHostDataPolicy(policy: VerifierPolicy, hostDataHex: string | undefined): Reason[] {
  if (!policy.allowedHostData) return [];
  if (hostDataHex === undefined || !policy.allowedHostData.includes(hostDataHex.toLowerCase())) {
    return [reason('HOST_DATA_NOT_ALLOWED', `HOST_DATA ${hostDataHex ?? '(absent)'} is not in the policy's allowedHostData`)];
  }
  return [];
}

/** Every TDX TCB status a policy may accept (the CRD's enum): all Intel's statuses but Revoked. */
export const DEFAULT_ACCEPTED_TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
] as const;

/**
 * AttestationPolicy spec fields that steer the operator, not the verifier, with the CRD's bounds: checked
 * (a CLI policy file the apiserver would refuse is refused here too), then left out of the VerifierPolicy.
 */
const OPERATIONAL_FIELDS: Record<OperationalSpecField, { min: number; max: number }> = {
  reattestIntervalSeconds: { min: 30, max: 604800 },
  quarantineGraceSeconds: { min: 0, max: 86400 },
};

function fail(path: string, message: string): never {
  throw new AttestationError('POLICY_INVALID', `policy field ${path}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(`${path}${key}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(path, 'must be true or false');
  return v;
}

function uint(v: unknown, path: string, max = 2 ** 32 - 1, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be an integer ${min}..${max}`);
  return v;
}

function strings(v: unknown, path: string, pattern?: RegExp, hint?: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) fail(path, 'must be a list');
  return v.map((item, i) => {
    if (typeof item !== 'string' || (pattern && !pattern.test(item))) fail(`${path}[${i}]`, hint ?? 'must be a string');
    return item;
  });
}

/**
 * tdx.acceptedTcbStatuses as the CRD allows it: each one of Intel's statuses but Revoked, UpToDate among
 * them. A misspelt status fails here rather than being a string no platform's status ever equals.
 */
function tcbStatuses(v: unknown): TdxPolicy['acceptedTcbStatuses'] {
  const path = 'tdx.acceptedTcbStatuses';
  const allowed: readonly string[] = DEFAULT_ACCEPTED_TCB_STATUSES;
  const list = strings(v, path);
  if (!list) return undefined;
  list.forEach((s, i) => {
    if (!allowed.includes(s)) fail(`${path}[${i}]`, `${JSON.stringify(s)} is not a TDX TCB status a policy may accept (allowed: ${allowed.join(', ')})`);
    if (list.indexOf(s) !== i) fail(`${path}[${i}]`, `${s} is listed twice`);
  });
  if (!list.includes('UpToDate')) fail(path, 'must include UpToDate, or no TDX host could ever pass');
  return list as NonNullable<TdxPolicy['acceptedTcbStatuses']>;
}

const HEX_DIGEST = /^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{96})$/;

/**
 * Validates untrusted policy input (YAML/JSON: an AttestationPolicy resource or just its spec) into a
 * VerifierPolicy. Unknown fields are errors: a misspelt allow list must not silently allow everything.
 */
export function parsePolicy(input: unknown): VerifierPolicy {
  if (input === undefined || input === null) {
    throw new AttestationError('POLICY_NOT_FOUND', 'no AttestationPolicy was given: evidence is never verified without one (a missing policy is not an empty one)');
  }
  if (!isObject(input)) fail('(root)', 'must be a mapping');
  let spec: Record<string, unknown> = input;
  if ('kind' in input || 'apiVersion' in input) {
    if (input.kind !== 'AttestationPolicy') fail('kind', 'must be AttestationPolicy');
    if (!isObject(input.spec)) fail('spec', 'must be a mapping');
    spec = input.spec;
  }
  checkKeys(
    spec,
    ['trustedRoots', 'allowSimulated', 'allowedMeasurements', 'allowedImageHashes', 'replicaMeasurements', 'replicaImageHashes', 'allowedHostData', 'minimumTcb', 'debugAllowed', 'migrationAgentAllowed', 'smtAllowed', 'allowedVmpls', 'tdx', 'gpu', 'maxEvidenceAgeSeconds', ...Object.keys(OPERATIONAL_FIELDS)],
    '',
  );
  for (const [field, { min, max }] of Object.entries(OPERATIONAL_FIELDS)) uint(spec[field], field, max, min);
  const policy: VerifierPolicy = {};
  const roots = strings(spec.trustedRoots, 'trustedRoots', /-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate');
  if (roots) policy.trustedRoots = roots;
  const set = <K extends keyof VerifierPolicy>(key: K, value: VerifierPolicy[K] | undefined): void => {
    if (value !== undefined) policy[key] = value;
  };
  set('allowSimulated', bool(spec.allowSimulated, 'allowSimulated'));
  set('allowedMeasurements', strings(spec.allowedMeasurements, 'allowedMeasurements', HEX_DIGEST, 'must be a 48-byte (or 32-byte) hex digest')?.map((s) => s.toLowerCase()));
  set('allowedImageHashes', strings(spec.allowedImageHashes, 'allowedImageHashes', /^[0-9a-fA-F]{64}$/, 'must be a SHA-256 hex digest')?.map((s) => s.toLowerCase()));
  // Pod-cvm replicas' own allow lists (attestation/service/replica-policy.ts swaps them in for a replica).
  set('replicaMeasurements', strings(spec.replicaMeasurements, 'replicaMeasurements', HEX_DIGEST, 'must be a 48-byte (or 32-byte) hex digest')?.map((s) => s.toLowerCase()));
  set('replicaImageHashes', strings(spec.replicaImageHashes, 'replicaImageHashes', /^[0-9a-f]{64}$/i, 'must be a SHA-256 hex digest')?.map((s) => s.toLowerCase()));
  set('allowedHostData', strings(spec.allowedHostData, 'allowedHostData', /^[0-9a-fA-F]{64}$/, 'must be 32 bytes of SEV-SNP HOST_DATA as 64 hex characters')?.map((s) => s.toLowerCase()));
  set('debugAllowed', bool(spec.debugAllowed, 'debugAllowed'));
  set('migrationAgentAllowed', bool(spec.migrationAgentAllowed, 'migrationAgentAllowed'));
  set('smtAllowed', bool(spec.smtAllowed, 'smtAllowed'));
  set('maxEvidenceAgeSeconds', uint(spec.maxEvidenceAgeSeconds, 'maxEvidenceAgeSeconds'));
  if (spec.allowedVmpls !== undefined) {
    if (!Array.isArray(spec.allowedVmpls)) fail('allowedVmpls', 'must be a list');
    policy.allowedVmpls = spec.allowedVmpls.map((v, i) => uint(v, `allowedVmpls[${i}]`, 3)!);
  }
  if (spec.minimumTcb !== undefined) {
    const m = spec.minimumTcb;
    if (!isObject(m)) fail('minimumTcb', 'must be a mapping');
    const byteFields = ['bootloader', 'tee', 'snp', 'microcode', 'fmc', 'tdxModuleSvn'] as const;
    checkKeys(m, [...byteFields, 'guestSvn', 'tdxTeeTcbSvn', 'pceSvn', 'qeSvn'], 'minimumTcb.');
    const min: MinimumTcb = {};
    for (const f of byteFields) {
      const v = uint(m[f], `minimumTcb.${f}`, 255);
      if (v !== undefined) min[f] = v;
    }
    const guestSvn = uint(m.guestSvn, 'minimumTcb.guestSvn');
    if (guestSvn !== undefined) min.guestSvn = guestSvn;
    const pceSvn = uint(m.pceSvn, 'minimumTcb.pceSvn', 65535);
    if (pceSvn !== undefined) min.pceSvn = pceSvn;
    const qeSvn = uint(m.qeSvn, 'minimumTcb.qeSvn', 65535);
    if (qeSvn !== undefined) min.qeSvn = qeSvn;
    if (m.tdxTeeTcbSvn !== undefined) {
      if (!Array.isArray(m.tdxTeeTcbSvn) || m.tdxTeeTcbSvn.length !== 16) fail('minimumTcb.tdxTeeTcbSvn', 'must be a list of 16 integers');
      min.tdxTeeTcbSvn = m.tdxTeeTcbSvn.map((v, i) => uint(v, `minimumTcb.tdxTeeTcbSvn[${i}]`, 255)!);
    }
    policy.minimumTcb = min;
  }
  if (spec.tdx !== undefined) {
    if (!isObject(spec.tdx)) fail('tdx', 'must be a mapping');
    checkKeys(spec.tdx, ['collateralRequired', 'acceptedTcbStatuses'], 'tdx.');
    const tdx: TdxPolicy = {};
    const req = bool(spec.tdx.collateralRequired, 'tdx.collateralRequired');
    if (req !== undefined) tdx.collateralRequired = req;
    const st = tcbStatuses(spec.tdx.acceptedTcbStatuses);
    if (st) tdx.acceptedTcbStatuses = st;
    policy.tdx = tdx;
  }
  if (spec.gpu !== undefined) {
    if (!isObject(spec.gpu)) fail('gpu', 'must be a mapping');
    checkKeys(spec.gpu, ['driverVersions', 'vbiosVersions', 'ccModeRequired'], 'gpu.');
    const gpu: GpuPolicy = {};
    const d = strings(spec.gpu.driverVersions, 'gpu.driverVersions');
    if (d) gpu.driverVersions = d;
    const v = strings(spec.gpu.vbiosVersions, 'gpu.vbiosVersions');
    if (v) gpu.vbiosVersions = v;
    const cc = bool(spec.gpu.ccModeRequired, 'gpu.ccModeRequired');
    if (cc !== undefined) gpu.ccModeRequired = cc;
    policy.gpu = gpu;
  }
  return policy;
}
