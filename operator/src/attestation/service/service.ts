// The attestation service: the operator's HTTPS endpoint that attesters talk to. It hands out challenges,
// verifies evidence and records verdicts, and accepts signed usage reports from attested replicas.
//
// Where state lives (so any operator replica can answer and a restart loses nothing):
//   node challenges   ProviderNode status.attestation.challenge (issued by the ProviderNode controller)
//   node verdicts     ProviderNode status.attestation (verifiedAt/expiresAt/claims or lastFailure)
//   replica challenge Pod annotation chrysalis.dev/attestation-challenge = "<nonce> <expiresAt>"
//   replica verdict   Pod condition chrysalis.dev/attested + annotations with the bound key and expiry
// Every verdict write is conditioned on the resourceVersion the check read, and consumes the challenge, so
// a nonce is good for one verdict only. Writes pass the leader fence: a standby answers 503 and the
// attester retries. Verification that cannot run is a rejection, never a pass.
import type { IncomingHttpHeaders } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy, AttestationPolicySpec } from '../../api/attestationpolicy.js';
import type { ProviderNode } from '../../api/providernode.js';
import type { OperatorConfig } from '../../config.js';
import { AttestationPolicies, ProviderNodes } from '../../kube/chrysalis-resources.js';
import { NotLeaderError, type Fence } from '../../kube/leader-election.js';
import { Pods, resourcePath } from '../../kube/resource.js';
import { isNotFound, KubeApiError, type RestClient } from '../../kube/rest.js';
import { LABEL_POOL, READINESS_GATE_ATTESTED } from '../../marks.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import { randomBytes } from 'node:crypto';
import { AuthError, authorize, reviewToken, type CallerIdentity } from './caller-identity.js';
import { PATHS, type ChallengeResponse, type EvidenceRequest, type EvidenceResponse, type Reason, type SignedUsageReport, type Subject, type UsageResponse } from './protocol.js';
import { BadRequest, parseChallengeRequest, parseEvidenceRequest, parseSignedUsageReport } from './validate.js';

export const ANNOTATION_CHALLENGE = 'chrysalis.dev/attestation-challenge';
export const ANNOTATION_KEY = 'chrysalis.dev/attestation-key';
export const ANNOTATION_EXPIRES = 'chrysalis.dev/attestation-expires';
/** Service writes use their own field manager so the controllers' server-side applies never remove them. */
export const SERVICE_FIELD_MANAGER = 'chrysalis-attestation-service';

export interface AttestationClaims {
  measurement?: string;
  imageHash?: string;
  tcb?: { bootloader?: number; tee?: number; snp?: number; microcode?: number };
  tcbStatus?: string;
  chipId?: string;
  simulated: boolean;
  gpus: Array<{ index: number; model?: string; driverVersion?: string; vbiosVersion?: string; ccMode?: 'on' | 'ppcie' | 'off' | 'devtools'; deviceId?: string }>;
}

export interface VerifyOutcome {
  verified: boolean;
  reasons: Reason[];
  claims: AttestationClaims;
}

/** The verifier as the service sees it: the whole bundle, the subject's policy, the time. */
export type EvidenceVerifier = (request: EvidenceRequest, context: { policy: AttestationPolicySpec | undefined; now: Date; nonceIssuedAt: Date }) => Promise<VerifyOutcome> | VerifyOutcome;

export interface UsageSink {
  ingest(report: SignedUsageReport, now: Date): Promise<UsageResponse>;
}

export interface AttestationServiceDeps {
  rest: RestClient;
  fence: Fence;
  config: OperatorConfig;
  verify: EvidenceVerifier;
  usage?: UsageSink;
  now?: () => Date;
  logger?: Logger;
  /** Replaced in unit tests; by default a TokenReview against the apiserver. */
  authenticate?: (authorization: string | undefined) => Promise<CallerIdentity>;
}

export interface ServiceResponse {
  status: number;
  body: unknown;
}

/** A request the service cannot honour now: 409 = the client's mistake (stale nonce), 503 = retry later. */
class Conflict extends Error {
  constructor(message: string, readonly status: 409 | 503 = 409) {
    super(message);
  }
}

export class AttestationService {
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(private readonly deps: AttestationServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger ?? silentLogger();
  }

  /** One request, transport-free (the HTTPS server and tests both call this). */
  async handle(method: string, path: string, headers: IncomingHttpHeaders, body: unknown): Promise<ServiceResponse> {
    try {
      if (method !== 'POST') return { status: 405, body: { error: `${method} ${path}: only POST is served here` } };
      const caller = await (this.deps.authenticate ?? ((a) => reviewToken(this.deps.rest, a)))(headers.authorization);
      switch (path) {
        case PATHS.challenge: {
          const { subject } = parseChallengeRequest(body);
          authorize(caller, subject);
          return { status: 200, body: await this.challenge(subject) };
        }
        case PATHS.evidence: {
          const request = parseEvidenceRequest(body);
          authorize(caller, request.subject);
          return { status: 200, body: await this.evidence(request) };
        }
        case PATHS.usage: {
          const report = parseSignedUsageReport(body);
          authorize(caller, { kind: 'replica', namespace: report.report.namespace, pod: report.report.pod });
          if (!this.deps.usage) return { status: 503, body: { error: 'usage metering is not enabled on this operator' } };
          // The wire answer is the protocol's UsageResponse only: the fold's internals (deltas as bigints,
          // which account) are the operator's, not the replica's.
          const { accepted, reasons } = await this.deps.usage.ingest(report, this.now());
          return { status: 200, body: { accepted, reasons } satisfies UsageResponse };
        }
        default:
          return { status: 404, body: { error: `no such endpoint ${path}; use ${Object.values(PATHS).join(', ')}` } };
      }
    } catch (err) {
      if (err instanceof AuthError) return { status: err.status, body: { error: err.message } };
      if (err instanceof BadRequest) return { status: 400, body: { error: err.message } };
      if (err instanceof Conflict) return { status: err.status, body: { error: err.message } };
      if (err instanceof NotLeaderError) return { status: 503, body: { error: 'this operator replica is not the leader; retry' } };
      this.log.error('attestation request failed', { path, error: err instanceof Error ? err.message : String(err) });
      return { status: 503, body: { error: 'the operator could not complete the request; retry' } };
    }
  }

  private async challenge(subject: Subject): Promise<ChallengeResponse> {
    const now = this.now();
    if (subject.kind === 'node') {
      const pn = await this.providerNodeFor(subject.nodeName);
      const challenge = pn.status?.attestation?.challenge;
      if (!challenge?.nonce || !challenge.expiresAt || Date.parse(challenge.expiresAt) <= now.getTime()) {
        throw new Conflict(`no challenge pending for node ${subject.nodeName}; the operator issues one when attestation is due — retry shortly`, 503);
      }
      return { nonce: challenge.nonce, expiresAt: challenge.expiresAt };
    }
    const pod = await this.replicaPod(subject);
    const existing = parseChallengeAnnotation(pod.metadata?.annotations?.[ANNOTATION_CHALLENGE]);
    if (existing && Date.parse(existing.expiresAt) > now.getTime()) return existing;
    const fresh = { nonce: randomBytes(32).toString('hex'), expiresAt: new Date(now.getTime() + this.deps.config.challengeTtlSeconds * 1000).toISOString() };
    await this.patch(resourcePath(Pods, subject.namespace, subject.pod), pod.metadata!.resourceVersion!, {
      metadata: { annotations: { [ANNOTATION_CHALLENGE]: `${fresh.nonce} ${fresh.expiresAt}` } },
    });
    return fresh;
  }

  private async evidence(request: EvidenceRequest): Promise<EvidenceResponse> {
    const now = this.now();
    if (request.subject.kind === 'node') {
      const pn = await this.providerNodeFor(request.subject.nodeName);
      const challenge = pn.status?.attestation?.challenge;
      checkNonce(request.nonce, challenge?.nonce, challenge?.expiresAt, now);
      const policy = await this.policy(pn.spec.policyRef?.name);
      const issuedAt = challenge?.issuedAt ? new Date(challenge.issuedAt) : this.issuedAtFromExpiry(challenge!.expiresAt!);
      const outcome = await this.verifySafely(request, policy, now, issuedAt);
      const expiresAt = this.expiry(policy, now);
      const attestation = outcome.verified
        ? { challenge: null, lastFailure: null, verifiedAt: now.toISOString(), expiresAt, publicKey: request.publicKey, ...claimsForStatus(outcome.claims) }
        : { challenge: null, lastFailure: { code: outcome.reasons[0]?.code ?? 'REJECTED', message: summarize(outcome.reasons), at: now.toISOString() } };
      await this.patch(resourcePath(ProviderNodes, undefined, pn.metadata.name, 'status'), pn.metadata.resourceVersion!, { status: { attestation } });
      this.log.info('node evidence', { node: request.subject.nodeName, verified: outcome.verified, reasons: outcome.reasons.map((r) => r.code) });
      return { verified: outcome.verified, reasons: outcome.reasons, ...(outcome.verified ? { expiresAt } : {}) };
    }
    const subject = request.subject;
    const pod = await this.replicaPod(subject);
    const challenge = parseChallengeAnnotation(pod.metadata?.annotations?.[ANNOTATION_CHALLENGE]);
    checkNonce(request.nonce, challenge?.nonce, challenge?.expiresAt, now);
    const host = pod.spec?.nodeName ? await this.providerNodeFor(pod.spec.nodeName).catch(() => undefined) : undefined;
    const hostAttested = host?.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True') ?? false;
    const policy = await this.policy(host?.spec.policyRef?.name);
    let outcome = await this.verifySafely(request, policy, now, this.issuedAtFromExpiry(challenge!.expiresAt));
    if (outcome.verified && !hostAttested) {
      outcome = { ...outcome, verified: false, reasons: [{ code: 'HOST_NOT_ATTESTED', message: `the replica's node ${pod.spec?.nodeName ?? '(unbound)'} is not attested` }] };
    }
    const expiresAt = this.expiry(policy, now);
    await this.patch(resourcePath(Pods, subject.namespace, subject.pod), pod.metadata!.resourceVersion!, {
      metadata: { annotations: { [ANNOTATION_CHALLENGE]: null, [ANNOTATION_KEY]: outcome.verified ? request.publicKey : null, [ANNOTATION_EXPIRES]: outcome.verified ? expiresAt : null } },
    });
    const condition = outcome.verified
      ? { type: READINESS_GATE_ATTESTED, status: 'True', reason: 'Verified', message: `replica evidence verified; valid until ${expiresAt}`, lastTransitionTime: now.toISOString() }
      : { type: READINESS_GATE_ATTESTED, status: 'False', reason: toReason(outcome.reasons[0]?.code), message: summarize(outcome.reasons), lastTransitionTime: now.toISOString() };
    await this.deps.rest.request('PATCH', resourcePath(Pods, subject.namespace, subject.pod, 'status'), {
      query: { fieldManager: SERVICE_FIELD_MANAGER }, contentType: 'application/strategic-merge-patch+json',
      body: { status: { conditions: [condition] } },
    });
    this.log.info('replica evidence', { pod: `${subject.namespace}/${subject.pod}`, verified: outcome.verified, reasons: outcome.reasons.map((r) => r.code) });
    return { verified: outcome.verified, reasons: outcome.reasons, ...(outcome.verified ? { expiresAt } : {}) };
  }

  /** A verifier that throws has not verified anything: that is a rejection (fail closed). */
  /** A replica challenge records only its expiry; it was issued one TTL before. */
  private issuedAtFromExpiry(expiresAt: string): Date {
    return new Date(Date.parse(expiresAt) - this.deps.config.challengeTtlSeconds * 1000);
  }

  private async verifySafely(request: EvidenceRequest, policy: AttestationPolicySpec | undefined, now: Date, nonceIssuedAt: Date): Promise<VerifyOutcome> {
    try {
      // The evidence-age limit is measured from when the nonce was issued (the verifier fails closed without it).
      const outcome = await this.deps.verify(request, { policy, now, nonceIssuedAt });
      if (outcome.verified && outcome.reasons.length > 0) return { ...outcome, verified: false };
      return outcome;
    } catch (err) {
      return { verified: false, reasons: [{ code: 'VERIFICATION_FAILED', message: `verification could not run: ${err instanceof Error ? err.message : String(err)}` }], claims: { simulated: false, gpus: [] } };
    }
  }

  private expiry(policy: AttestationPolicySpec | undefined, now: Date): string {
    const seconds = (policy?.reattestIntervalSeconds ?? 3600) + this.deps.config.challengeTtlSeconds;
    return new Date(now.getTime() + seconds * 1000).toISOString();
  }

  private async policy(name: string | undefined): Promise<AttestationPolicySpec | undefined> {
    const policyName = name ?? this.deps.config.defaultPolicyName;
    try {
      const policy = await this.deps.rest.request<AttestationPolicy>('GET', resourcePath(AttestationPolicies, undefined, policyName));
      return policy.spec;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // No such policy object: the verifier's built-in default (vendor roots only, debug forbidden).
      return undefined;
    }
  }

  private async providerNodeFor(nodeName: string): Promise<ProviderNode> {
    // ProviderNodes are usually named after their Node: one GET. Otherwise search the list.
    const byName = await this.deps.rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, nodeName)).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (byName?.spec.nodeName === nodeName) return byName;
    const list = await this.deps.rest.request<{ items: ProviderNode[] }>('GET', resourcePath(ProviderNodes));
    const pn = list.items.find((p) => p.spec.nodeName === nodeName);
    if (!pn) throw new Conflict(`no ProviderNode declares node ${nodeName}; create one (kubectl apply -f a ProviderNode with spec.nodeName: ${nodeName})`, 503);
    return pn;
  }

  private async replicaPod(subject: Extract<Subject, { kind: 'replica' }>): Promise<V1Pod> {
    try {
      const pod = await this.deps.rest.request<V1Pod>('GET', resourcePath(Pods, subject.namespace, subject.pod));
      if (!pod.metadata?.labels?.[LABEL_POOL]) throw new Conflict(`pod ${subject.namespace}/${subject.pod} is not a Chrysalis replica`);
      return pod;
    } catch (err) {
      if (isNotFound(err)) throw new Conflict(`pod ${subject.namespace}/${subject.pod} does not exist`);
      throw err;
    }
  }

  /** JSON merge patch conditioned on the resourceVersion the decision was based on. */
  private async patch(path: string, resourceVersion: string, body: Record<string, unknown>): Promise<void> {
    this.deps.fence.assertLeader();
    const metadata = { ...((body.metadata as Record<string, unknown>) ?? {}), resourceVersion };
    try {
      await this.deps.rest.request('PATCH', path, { query: { fieldManager: SERVICE_FIELD_MANAGER }, contentType: 'application/merge-patch+json', body: { ...body, metadata } });
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 409) throw new Conflict('the object changed while this request was checked; fetch a new challenge and retry', 503);
      throw err;
    }
  }
}

function checkNonce(got: string, expected: string | undefined, expiresAt: string | undefined, now: Date): void {
  if (!expected || !expiresAt) throw new Conflict('no challenge is pending for this subject; fetch one first', 503);
  if (got !== expected) throw new Conflict('NONCE_MISMATCH: the evidence answers a challenge that is not the pending one (replayed or stale); fetch a new challenge');
  if (Date.parse(expiresAt) <= now.getTime()) throw new Conflict('the challenge expired before the evidence arrived; fetch a new challenge', 503);
}

function parseChallengeAnnotation(value: string | undefined): ChallengeResponse | undefined {
  const m = /^([0-9a-f]{64}) (\S+)$/.exec(value ?? '');
  return m ? { nonce: m[1]!, expiresAt: m[2]! } : undefined;
}

function claimsForStatus(c: AttestationClaims): Record<string, unknown> {
  return {
    measurement: c.measurement ?? null, imageHash: c.imageHash ?? null, tcb: c.tcb ?? null, tcbStatus: c.tcbStatus ?? null,
    chipId: c.chipId ?? null, simulated: c.simulated, gpus: c.gpus,
  };
}

function summarize(reasons: Reason[]): string {
  return reasons.map((r) => `${r.code}: ${r.message}`).join('; ').slice(0, 1000) || 'rejected';
}

/** Condition reasons are CamelCase: NONCE_MISMATCH → NonceMismatch. */
function toReason(code: string | undefined): string {
  return (code ?? 'Rejected').toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') || 'Rejected';
}
