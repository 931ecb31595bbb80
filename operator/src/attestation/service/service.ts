// The attestation service: the operator's HTTPS endpoint that attesters talk to. It hands out challenges,
// verifies evidence and records verdicts, and accepts signed usage reports from attested replicas.
//
// Where state lives (so any operator replica can answer and a restart loses nothing):
//   node challenges   ProviderNode status.attestation.challenge (issued by the ProviderNode controller)
//   node verdicts     ProviderNode status.attestation (verifiedAt/expiresAt/claims or lastFailure;
//                     pendingRejections while the pending challenge has rejected answers)
//   replica challenge the host's ProviderNode status.replicaChallenges, for the Pod's uid
//                     (replica-challenges.ts); the chrysalis.dev/attestation-challenge annotation of
//                     earlier versions is neither read nor written
//   replica verdict   Pod condition chrysalis.dev/attested, and the bound key and its expiry in the
//                     host's ProviderNode status.attestedReplicas (replica-keys.ts). Never Pod metadata:
//                     whoever may patch Pods in the namespace could replace it (choose a nonce, an issue
//                     time, a key).
// A replica is a Pod its InferencePool controls (replica-owner.ts), not any Pod carrying the pool label.
// Every verdict write is conditioned on the resourceVersion the check read, so every replica of the
// service may serve (the operator gives it no leader fence): two replicas are no different from two
// concurrent requests on one — a nonce is consumed by one answer, a count loses no increment. Verification
// that cannot run, and evidence whose AttestationPolicy does not exist, are rejections, never a pass.
//
// Who may call (caller-identity.ts): node challenges and evidence only from the node attesters'
// ServiceAccount bound to that node; replica challenges, evidence and usage only from a token bound to
// that very Pod. An unauthorized request writes nothing.
//
// A rejected node answer does not consume the challenge at once. A replica answers only for itself, but
// a node's verdict quarantines every replica on it, so one bad answer (a stale attester during a rollout,
// a second process, a glitch) must not burn the nonce before the node's own attester has answered. Rule:
// the challenge stays pending after a rejected answer, which is recorded as pendingRejections (code,
// message, how many for this nonce); the verdict becomes lastFailure (and the challenge is consumed) at
// the MAX_REJECTED_NODE_ANSWERS-th rejected answer to the same nonce. A passing answer before that clears
// them. A challenge that expires without a passing answer needs no verdict of its own: the controller
// issues a new one, and the node's attestation lapses at its expiresAt (AttestationExpired after the
// policy's grace), as for an attester that never answers. Three, because the attester retries a rejection
// after a pause with the same pending nonce: a node whose evidence is really bad is quarantined within
// three tries, and an odd bad answer is outvoted by the next good one.
//
// Reads (provider-node-reads.ts, replica-reads.ts): the host's ProviderNode, the replica's pool and, where
// the process runs the controllers, its Pod come from the operator's caches first. Every verdict is a
// write conditioned on what it read, so a copy that lags costs a refused write and a retry on the
// apiserver's object; a copy that would refuse (no such nonce pending) is confirmed there first.
//
// Load (token-review-cache.ts, rate-limit.ts): the caller is authenticated from the headers before the
// body is read, TokenReview answers are cached, the reviews sent for uncached tokens are bounded for all
// callers together, each caller has its own request bucket, and bodies are limited per endpoint
// (protocol.ts MAX_BODY_BYTES).
import type { IncomingHttpHeaders } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy, AttestationPolicySpec } from '../../api/attestationpolicy.js';
import type { ProviderNode, ProviderNodeStatusAttestedReplica, ProviderNodeStatusReplicaChallenge } from '../../api/providernode.js';
import { attestedNow } from '../attested-now.js';
import type { InferencePool } from '../../api/inferencepool.js';
import type { DeclaredNode } from '../declared-vs-proven.js';
import type { OperatorConfig } from '../../config.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../kube/chrysalis-resources.js';
import { fencedRequest, NotLeaderError, type Fence } from '../../kube/leader-election.js';
import { Pods, resourcePath, type KubeObject } from '../../kube/resource.js';
import { isNotFound, KubeApiError, type RestClient } from '../../kube/rest.js';
import type { Store } from '../../kube/store.js';
import { READINESS_GATE_ATTESTED, SERVICE_FIELD_MANAGER } from '../../marks.js';
import type { OperatorMetrics } from '../../kube/metrics.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';
import { randomBytes } from 'node:crypto';
import { AuthError, authorize, authorizeReplicaPod, bearerToken, callerKey, reviewToken, type CallerIdentity } from './caller-identity.js';
import { PATHS, type ChallengeResponse, type EvidenceRequest, type EvidenceResponse, type NodeStanding, type Reason, type SignedUsageReport, type Subject, type UsageResponse } from './protocol.js';
import { KeyedTokenBuckets } from './rate-limit.js';
import { HostWrites } from './host-writes.js';
import { challengeLapsesAt, challengeLifetimeSeconds } from '../challenge-lifetime.js';
import { MAX_REPLICA_CHALLENGES, pendingReplicaChallenge, withoutReplicaChallenge, withReplicaChallenge } from './replica-challenges.js';
import { livePodKey, withAttestedReplica, withoutAttestedReplica, type PodEntry } from './replica-keys.js';
import { claimedPool, controllerRefToClaimedPool, whyNotAReplica } from './replica-owner.js';
import { ProviderNodeReads, type FreshRead } from './provider-node-reads.js';
import { ReplicaReads, replicaRoomOf, type ReplicaCaches } from './replica-reads.js';
import { hostStateFailure } from './host-suspect.js';
import { podCvmReplicaPolicy, podGpuCount, replicaHostMismatch, topologyOf } from './replica-topology.js';
import { RateLimited, TokenReviewCache } from './token-review-cache.js';
import { InFlightLimit, USAGE_RETRY_AFTER_MS } from './usage-admission.js';
import { BadRequest, parseChallengeRequest, parseEvidenceRequest, parseSignedUsageReport } from './validate.js';

/** Rejected answers to one node challenge before the rejection becomes the node's verdict (see the header). */
export const MAX_REJECTED_NODE_ANSWERS = 3;

/** Tries of one write whose resourceVersion precondition keeps failing (each on a newer read) before a 503. */
const MAX_STALE_WRITES = 5;

/**
 * The gate's message while True. It names no time: a renewal leaves a True gate as it is, so a time would
 * go stale; the key's expiry is the host's to tell.
 */
export const REPLICA_VERIFIED_MESSAGE = "replica evidence verified; its key and the key's expiry are on the host ProviderNode's status.attestedReplicas";

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

/**
 * The verifier as the service sees it: the whole bundle, the subject's policy, the time. The service
 * always passes a policy (none found is a rejection before the verifier runs); a verifier given none
 * must reject (POLICY_NOT_FOUND).
 */
/**
 * The verifier as the service sees it. `declared` is the ProviderNode's spec.tee and spec.gpus for node
 * evidence (the evidence must prove them: DECLARED_MISMATCH otherwise); a replica declares nothing.
 */
export type EvidenceVerifier = (
  request: EvidenceRequest,
  context: { policy: AttestationPolicySpec | undefined; now: Date; nonceIssuedAt: Date; declared?: DeclaredNode },
) => Promise<VerifyOutcome> | VerifyOutcome;

export interface UsageSink {
  /** `read`: the report's Pod and its InferencePool as the service read them to authorize it (not read again). */
  ingest(report: SignedUsageReport, now: Date, read?: { pod: V1Pod; pool: (InferencePool & KubeObject) | undefined }): Promise<UsageResponse>;
}

export interface AttestationServiceDeps {
  rest: RestClient;
  fence: Fence;
  config: OperatorConfig;
  verify: EvidenceVerifier;
  usage?: UsageSink;
  now?: () => Date;
  logger?: Logger;
  /** The per-host queue of status writes, shared with metering in the same process (default: the service's own). */
  hostWrites?: HostWrites;
  /**
   * How ProviderNodes are read before a write (provider-node-reads.ts), shared with metering in the same
   * process; default: every read from the apiserver.
   */
  providerNodes?: ProviderNodeReads;
  /** The operator's caches of replica Pods and InferencePools (replica-reads.ts); default: none, every read from the apiserver. */
  replicaCaches?: ReplicaCaches;
  /**
   * The operator's cache of AttestationPolicies (an informer); default: none, the policy of every challenge
   * and answer read from the apiserver. A policy the cache does not hold is read from the apiserver.
   */
  policies?: Pick<Store<AttestationPolicy & KubeObject>, 'get'>;
  /** Who a token belongs to; replaced in unit tests. By default a TokenReview against the apiserver (cached). */
  review?: (token: string) => Promise<CallerIdentity>;
  /** Where deferred usage reports are counted (default: nowhere). */
  metrics?: Pick<OperatorMetrics, 'usageReportsDeferred'>;
}

export interface ServiceResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A request the service cannot honour now: 409 = the client's mistake (stale nonce), 503 = retry later. */
class Conflict extends Error {
  constructor(message: string, readonly status: 409 | 503 = 409) {
    super(message);
  }
}

/** A write whose resourceVersion precondition failed: the object changed since it was read. */
class StaleWrite extends Conflict {
  constructor() {
    super('the object changed while this request was checked; fetch a new challenge and retry', 503);
  }
}

type PolicyLookup = { found: true; name: string; spec: AttestationPolicySpec } | { found: false; name: string };

/** How long a node's challenge request waits for the ProviderNode cache to show a challenge before answering none. */
export const CHALLENGE_CATCH_UP_MS = 1_000;

export class AttestationService {
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly tokens: TokenReviewCache;
  private readonly perCaller: KeyedTokenBuckets;
  /** Usage reports being served; past the bound they are deferred with 429 (usage-admission.ts). */
  private readonly usageInFlight: InFlightLimit;
  /** The service's own writes to one host's status take turns (host-writes.ts), with metering's when shared. */
  private readonly hostWrites: HostWrites;
  /** Where the host's ProviderNode and the replica's Pod and pool are read from (cache first, see those files). */
  readonly providerNodes: ProviderNodeReads;
  readonly replicas: ReplicaReads;

  constructor(private readonly deps: AttestationServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger ?? silentLogger();
    this.hostWrites = deps.hostWrites ?? new HostWrites();
    this.providerNodes = deps.providerNodes ?? new ProviderNodeReads({ rest: deps.rest });
    this.replicas = new ReplicaReads(deps.rest, deps.replicaCaches);
    const c = deps.config;
    this.tokens = new TokenReviewCache({
      review: deps.review ?? ((token) => reviewToken(deps.rest, token)),
      reviewsPerSecond: c.tokenReviewsPerSecond, reviewBurst: c.tokenReviewBurst,
      now: () => this.now().getTime(),
    });
    this.perCaller = new KeyedTokenBuckets(c.requestsPerCallerPerSecond, c.requestBurstPerCaller);
    this.usageInFlight = new InFlightLimit(c.maxUsageReportsInFlight);
  }

  /** TokenReviews sent so far (the cache's misses). */
  get tokenReviews(): number {
    return this.tokens.reviews;
  }

  /** An answer for a method/path this service does not serve, before any other work; undefined when served. */
  route(method: string, path: string): ServiceResponse | undefined {
    if (!(Object.values(PATHS) as string[]).includes(path)) return { status: 404, body: { error: `no such endpoint ${path}; use ${Object.values(PATHS).join(', ')}` } };
    if (method !== 'POST') return { status: 405, body: { error: `${method} ${path}: only POST is served here` } };
    return undefined;
  }

  /**
   * Who is calling, from the headers alone (so the HTTPS server can refuse before reading a body): the
   * token's cached or fresh TokenReview, then the caller's own request bucket. Throws AuthError or
   * RateLimited (errorResponse turns them into 401/403/429).
   */
  async authenticate(headers: IncomingHttpHeaders): Promise<CallerIdentity> {
    const caller = await this.tokens.authenticate(bearerToken(headers.authorization));
    const taken = this.perCaller.take(callerKey(caller), this.now().getTime());
    if (!taken.ok) throw new RateLimited(`too many requests from ${caller.username}; retry later`, taken.retryAfterMs);
    return caller;
  }

  /** One request, transport-free: route, authenticate, serve (the HTTPS server splits these around reading the body). */
  async handle(method: string, path: string, headers: IncomingHttpHeaders, body: unknown): Promise<ServiceResponse> {
    const early = this.route(method, path);
    if (early) return early;
    let caller: CallerIdentity;
    try {
      caller = await this.authenticate(headers);
    } catch (err) {
      return this.errorResponse(err, path);
    }
    return this.serve(path, caller, body);
  }

  /** The request of an authenticated caller. */
  async serve(path: string, caller: CallerIdentity, body: unknown): Promise<ServiceResponse> {
    try {
      switch (path) {
        case PATHS.challenge: {
          const { subject } = parseChallengeRequest(body);
          authorize(caller, subject, this.deps.config.attesterServiceAccount);
          return { status: 200, body: await this.challenge(subject, caller) };
        }
        case PATHS.evidence: {
          const request = parseEvidenceRequest(body);
          authorize(caller, request.subject, this.deps.config.attesterServiceAccount);
          return { status: 200, body: await this.evidence(request, caller) };
        }
        case PATHS.standing: {
          const { subject } = parseChallengeRequest(body);
          if (subject.kind !== 'node') throw new BadRequest(`${PATHS.standing} answers for nodes only (subject.kind node); a replica's standing is its Pod's chrysalis.dev/attested condition`);
          authorize(caller, subject, this.deps.config.attesterServiceAccount);
          return { status: 200, body: await this.standing(subject.nodeName) };
        }
        case PATHS.usage: {
          const report = parseSignedUsageReport(body);
          const subject = { kind: 'replica' as const, namespace: report.report.namespace, pod: report.report.pod };
          authorize(caller, subject, this.deps.config.attesterServiceAccount);
          if (!this.deps.usage) return { status: 503, body: { error: 'usage metering is not enabled on this operator' } };
          // Before anything is read for it: a report past the bound costs the apiserver nothing.
          const release = this.usageInFlight.tryEnter();
          if (!release) {
            this.deps.metrics?.usageReportsDeferred.inc();
            throw new RateLimited(`this attestation service replica is serving ${this.usageInFlight.max} usage reports (maxUsageReportsInFlight); ` +
              'attestation goes first. Nothing is lost: the next report carries the same cumulative counters', USAGE_RETRY_AFTER_MS);
          }
          try {
            // The Pod from the apiserver: metering requires its gate (chrysalis.dev/attested) True, and a
            // copy could still show True after the gate was turned False (a quarantined host). A Pod that
            // is gone gets metering's verdict (UNKNOWN_REPLICA), not the 409 a challenge for it gets: the
            // attester takes 409 for a stale read and sends again, so a sidecar's last report retried until
            // its deadline for a Pod that will not come back. (Metering reads the Pod once more to say so;
            // only a gone Pod's report pays that second GET.)
            const pod = await this.replicas.pod(subject.namespace, subject.pod, undefined);
            if (pod) authorizeReplicaPod(caller, pod);
            const read = pod ? { pod, pool: await this.poolOfReplica(pod) } : undefined;
            // The wire answer is the protocol's UsageResponse only: the fold's internals (deltas as bigints,
            // which account) are the operator's, not the replica's.
            const { accepted, reasons } = await this.deps.usage.ingest(report, this.now(), read);
            return { status: 200, body: { accepted, reasons } satisfies UsageResponse };
          } finally {
            release();
          }
        }
        default:
          return this.route('POST', path) ?? { status: 404, body: { error: `no such endpoint ${path}` } };
      }
    } catch (err) {
      return this.errorResponse(err, path);
    }
  }

  /** The answer for an error thrown while authenticating or serving. */
  errorResponse(err: unknown, path: string): ServiceResponse {
    if (err instanceof AuthError) return { status: err.status, body: { error: err.message } };
    if (err instanceof RateLimited) return { status: 429, body: { error: err.message }, headers: { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } };
    if (err instanceof BadRequest) return { status: 400, body: { error: err.message } };
    if (err instanceof Conflict) return { status: err.status, body: { error: err.message } };
    if (err instanceof NotLeaderError) return { status: 503, body: { error: 'this operator replica is not the leader; retry' } };
    this.log.error('attestation request failed', { path, error: err instanceof Error ? err.message : String(err) });
    return { status: 503, body: { error: 'the operator could not complete the request; retry' } };
  }

  private async challenge(subject: Subject, caller: CallerIdentity): Promise<ChallengeResponse> {
    const now = this.now();
    if (subject.kind === 'node') {
      const pending = (pn: ProviderNode) => {
        const challenge = pn.status?.attestation?.challenge;
        return challenge?.nonce && challenge.expiresAt && Date.parse(challenge.expiresAt) > now.getTime() ? { nonce: challenge.nonce, expiresAt: challenge.expiresAt } : undefined;
      };
      // From the cache, given a moment to show a challenge the controller has just issued; past that the
      // answer is "none" without asking the apiserver (only a node the cache does not hold is read there).
      // Attested nodes' attesters poll here (every 30 s by default), and each poll used to read the
      // ProviderNode from the apiserver whenever the copy showed no challenge, which is nearly always:
      // 67 reads of about 10 KB a second at 2,000 nodes. An attester that learned of a challenge before
      // the service's cache did is answered 503 and retries after its backoff; its challenge stays valid.
      const copy = await this.providerNodes.cachedShowing(subject.nodeName, (pn) => pending(pn) !== undefined, CHALLENGE_CATCH_UP_MS);
      const challenge = pending(copy ?? await this.providerNodeFor(subject.nodeName));
      if (!challenge) throw new Conflict(`no challenge pending for node ${subject.nodeName}; the operator issues one when attestation is due — retry shortly`, 503);
      return challenge;
    }
    const pod = await this.replicaPod(subject, caller);
    authorizeReplicaPod(caller, pod);
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) throw new Conflict(`pod ${subject.namespace}/${subject.pod} is not bound to a node yet; its challenge is kept on its host's ProviderNode — retry once it is bound`, 503);
    // The challenge goes where only this service writes (replica-challenges.ts), conditioned on the
    // ProviderNode as read; retried on a newer one (other writers share the object).
    return this.hostWrites.run(nodeName, () => this.replicaChallenge(subject, pod, nodeName, now));
  }

  /**
   * A replica's pending challenge on its host, or a new one written there (one host write at a time). A
   * challenge lives no longer than the host policy's evidence age (nor challengeTtlSeconds): evidence for
   * it is measured from its issue time, so one older than that can only be rejected, and handing it out
   * again made a replica that asked twice answer a challenge it could no longer pass.
   */
  private async replicaChallenge(subject: Extract<Subject, { kind: 'replica' }>, pod: V1Pod, nodeName: string, now: Date): Promise<ChallengeResponse> {
    let policy: PolicyLookup | undefined;
    for (let attempt = 1; ; attempt++) {
      // The first try on the newest copy this process has; after a refused write, on the apiserver's.
      const host = await this.providerNodeFor(nodeName, attempt > 1 && 'replica-challenge-conflict');
      // Read once per request; again only if a newer host names another policy.
      if (policy?.name !== (host.spec.policyRef?.name ?? this.deps.config.defaultPolicyName)) policy = await this.policy(host.spec.policyRef?.name);
      const lifetimeSeconds = challengeLifetimeSeconds(this.deps.config.challengeTtlSeconds, policy.found ? policy.spec : undefined);
      const pending = pendingReplicaChallenge(host, pod, now);
      if (pending && challengeLapsesAt(pending, lifetimeSeconds) > now.getTime()) return { nonce: pending.nonce, expiresAt: pending.expiresAt };
      const fresh: ProviderNodeStatusReplicaChallenge = {
        namespace: subject.namespace, pod: subject.pod, uid: pod.metadata!.uid!, nonce: randomBytes(32).toString('hex'),
        issuedAt: now.toISOString(), expiresAt: new Date(now.getTime() + lifetimeSeconds * 1000).toISOString(),
      };
      const existing = host.status?.replicaChallenges ?? [];
      const next = withReplicaChallenge(existing, fresh, await this.replicas.livePods(existing, pod, now, replicaRoomOf(host)), now);
      if (next.length > MAX_REPLICA_CHALLENGES) throw new Conflict(`node ${nodeName} already has ${MAX_REPLICA_CHALLENGES} replica challenges pending; retry later`, 503);
      try {
        await this.patch(resourcePath(ProviderNodes, undefined, host.metadata.name, 'status'), host.metadata.resourceVersion!, { status: { replicaChallenges: next } });
        return { nonce: fresh.nonce, expiresAt: fresh.expiresAt };
      } catch (err) {
        if (!(err instanceof StaleWrite) || attempt >= MAX_STALE_WRITES) throw err;
      }
    }
  }

  /** The node's standing from its ProviderNode status, as the node's own attester may read it (protocol.ts NodeStanding). */
  private async standing(nodeName: string): Promise<NodeStanding> {
    // From the apiserver, not a copy: a quarantined node's attester withholds its GPUs on this answer, and
    // a copy seconds behind would keep them released that much longer.
    const pn = await this.providerNodeFor(nodeName, 'standing');
    const quarantine = pn.status?.conditions?.find((c) => c.type === 'Quarantined' && c.status === 'True');
    return {
      ...(pn.status?.attestation?.verifiedAt ? { verifiedAt: pn.status.attestation.verifiedAt } : {}),
      quarantined: quarantine !== undefined,
      ...(quarantine ? { quarantineReason: quarantine.reason, quarantineMessage: quarantine.message.slice(0, 500), quarantinedSince: quarantine.lastTransitionTime } : {}),
    };
  }

  private async evidence(request: EvidenceRequest, caller: CallerIdentity): Promise<EvidenceResponse> {
    return request.subject.kind === 'node' ? this.nodeEvidence(request, request.subject) : this.replicaEvidence(request, request.subject, caller);
  }

  private async nodeEvidence(request: EvidenceRequest, subject: Extract<Subject, { kind: 'node' }>): Promise<EvidenceResponse> {
    const now = this.now();
    // The first read may be a copy (provider-node-reads.ts); one that does not show this nonce pending is
    // given a moment to catch up, then confirmed with the apiserver before the answer is refused, and a
    // refused write is judged again on the apiserver's object while the same challenge is still pending there.
    let pn = await this.providerNodeShowing(subject.nodeName, (copy) => copy.status?.attestation?.challenge?.nonce === request.nonce, 'node-evidence-not-shown');
    // The verdict and what it was judged against: evidence is verified again only when that changed.
    let judged: { basis: string; outcome: VerifyOutcome; expiresAt: string } | undefined;
    for (let attempt = 1; ; attempt++) {
      const challenge = pn.status?.attestation?.challenge;
      checkNonce(request.nonce, challenge?.nonce, challenge?.expiresAt, now);
      const policy = await this.policy(pn.spec.policyRef?.name);
      if (!policy.found) {
        // Nothing is written: the ProviderNode controller reports the missing policy (PolicyNotFound) and
        // withdraws the challenge; the attester's answer was not at fault.
        const reasons = [policyNotFound(policy.name, `ProviderNode ${pn.metadata.name}`)];
        this.log.warn('node evidence refused: no policy', { node: subject.nodeName, policy: policy.name });
        return { verified: false, reasons };
      }
      const basis = nodeVerdictBasis(pn, policy.spec);
      if (judged?.basis !== basis) {
        const issuedAt = challenge?.issuedAt ? new Date(challenge.issuedAt) : this.issuedAtFromExpiry(challenge!.expiresAt!);
        // The CRD requires spec.gpus; an object without it declares no GPU, so any GPU evidence mismatches.
        // A pod-cvm node's own VM holds no GPU (each replica's VM gets its GPUs and proves them, see
        // replica-topology.ts): its evidence proves the TEE and must carry no GPU report.
        const nodeGpus = topologyOf(pn) === 'pod-cvm' ? 0 : pn.spec.gpus?.count ?? 0;
        const declared: DeclaredNode = { tee: pn.spec.tee, gpus: { model: pn.spec.gpus?.model ?? '', count: nodeGpus } };
        judged = { basis, outcome: await this.verifySafely(request, policy.spec, now, issuedAt, declared), expiresAt: this.expiry(policy.spec, now) };
      }
      const { outcome, expiresAt } = judged;
      let final: boolean;
      try {
        // The write takes its turn with the service's other writes to this host (host-writes.ts). One that
        // waited is made on the newest copy of the host, which the write before it left (remembered): sent
        // with the resourceVersion read before the wait, it was refused whenever another write came first.
        final = await this.hostWrites.run(subject.nodeName, async (waited) => {
          const target = waited ? await this.providerNodeFor(subject.nodeName) : pn;
          // Judged against another challenge (the basis holds its nonce), policy or declared hardware than
          // the host now shows: judge again.
          if (target !== pn && nodeVerdictBasis(target, policy.spec) !== basis) throw new StaleWrite();
          const verdict = nodeVerdictStatus(outcome, request, target, now, expiresAt);
          await this.patch(resourcePath(ProviderNodes, undefined, target.metadata.name, 'status'), target.metadata.resourceVersion!, { status: { attestation: verdict.attestation } });
          return verdict.final;
        });
      } catch (err) {
        if (!(err instanceof StaleWrite) || attempt >= MAX_STALE_WRITES) throw err;
        pn = await this.providerNodeFor(subject.nodeName, 'node-verdict-conflict');
        continue;
      }
      this.log.info('node evidence', { node: subject.nodeName, verified: outcome.verified, final, reasons: outcome.reasons.map((r) => r.code) });
      return { verified: outcome.verified, reasons: outcome.reasons, ...(outcome.verified ? { expiresAt } : {}) };
    }
  }

  private async replicaEvidence(request: EvidenceRequest, subject: Extract<Subject, { kind: 'replica' }>, caller: CallerIdentity): Promise<EvidenceResponse> {
    const now = this.now();
    const pod = await this.replicaPod(subject, caller);
    authorizeReplicaPod(caller, pod);
    const nodeName = pod.spec?.nodeName;
    let host = nodeName ? await this.providerNodeFor(nodeName) : undefined;
    // A copy that does not show this nonce pending is confirmed with the apiserver before the answer is refused.
    if (nodeName && pendingReplicaChallenge(host, pod, now)?.nonce !== request.nonce) host = await this.providerNodeFor(nodeName, 'replica-evidence-not-shown');
    const challenge = pendingReplicaChallenge(host, pod, now);
    checkNonce(request.nonce, challenge?.nonce, challenge?.expiresAt, now);
    const policy = await this.policy(host!.spec.policyRef?.name);
    const verified = await this.verifyReplica(request, policy, host!, pod, now, new Date(challenge!.issuedAt));
    const expiresAt = this.expiry(policy.found ? policy.spec : undefined, now);
    const keyEntry: ProviderNodeStatusAttestedReplica = { namespace: subject.namespace, pod: subject.pod, uid: pod.metadata!.uid!, publicKey: request.publicKey, expiresAt };
    // 1. One write to the host's status, conditioned on the ProviderNode as read: it consumes the challenge
    //    (a nonce answers once) and records the key of a pass or revokes the key of a failure. On a newer
    //    ProviderNode it is judged again against that one, as long as the same challenge is still pending.
    const read = host!;
    const outcome = await this.hostWrites.run(nodeName!, (waited) => this.recordReplicaVerdict(request, subject, pod, read, waited ? undefined : read, verified, keyEntry, now));
    // 2. The gate, after the key: a gate says True only once the key it stands for is recorded. A failure
    //    revoked the key in step 1 already; readers need both, so the gate closing just after is no gap.
    //    A renewal whose Pod already shows this gate True — as read for this request, and confirmed by a
    //    read after the key was written — writes nothing: the renewed key on the host is what keeps it True
    //    (the controller reads the host before any flip), and a Pod write costs the apiserver a write plus
    //    one event to each Pod watcher, per replica per period. A first verdict skips the confirming read.
    const condition = outcome.verified
      ? { type: READINESS_GATE_ATTESTED, status: 'True', reason: 'Verified', message: REPLICA_VERIFIED_MESSAGE, lastTransitionTime: now.toISOString() }
      : { type: READINESS_GATE_ATTESTED, status: 'False', reason: toReason(outcome.reasons[0]?.code), message: summarize(outcome.reasons), lastTransitionTime: now.toISOString() };
    const uid = pod.metadata!.uid!;
    if (!outcome.verified || !verifiedGate(pod, uid) || !verifiedGate(await this.replicas.pod(subject.namespace, subject.pod, undefined), uid)) {
      await this.writeGate(subject, uid, condition);
    }
    this.log.info('replica evidence', { pod: `${subject.namespace}/${subject.pod}`, verified: outcome.verified, reasons: outcome.reasons.map((r) => r.code) });
    return { verified: outcome.verified, reasons: outcome.reasons, ...(outcome.verified ? { expiresAt } : {}) };
  }

  /**
   * Step 1 of a replica's evidence: the verdict on the host's status (challenge consumed, key recorded or
   * revoked), judged against the host as read (`read`, or read again here when undefined: the turn came
   * after another write, whose result this process remembers) and, after a 409, against the apiserver's
   * object while the same challenge is still pending there, as long as that host names the policy,
   * topology and hardware the evidence was verified against (`judged`); otherwise a 503, and the replica
   * answers again. Runs as the host's turn in hostWrites.
   */
  private async recordReplicaVerdict(request: EvidenceRequest, subject: Extract<Subject, { kind: 'replica' }>, pod: V1Pod, judged: ProviderNode, read: ProviderNode | undefined, verified: VerifyOutcome, keyEntry: ProviderNodeStatusAttestedReplica, now: Date): Promise<VerifyOutcome> {
    const nodeName = pod.spec!.nodeName!;
    const judgedAgainst = verificationBasis(judged, this.deps.config.defaultPolicyName);
    let host = read ?? await this.stillPending(nodeName, pod, request.nonce, now, false);
    const topology = topologyOf(host);
    let outcome: VerifyOutcome;
    for (let attempt = 1; ; attempt++) {
      // `verified` was judged against the policy, topology and declared hardware of the host as first
      // read (a copy, perhaps seconds old): a host read since that names others must be judged anew.
      if (verificationBasis(host, this.deps.config.defaultPolicyName) !== judgedAgainst) throw new StaleWrite();
      // The condition and the expiry (attested-now.ts): a condition the controller has not turned yet does not outlive the expiry.
      const hostAttested = attestedNow(host, now);
      // Judged against the host as read now: its last verified evidence is what the replica must match.
      const notOnHost = verified.verified && hostAttested ? replicaHostMismatch(topology, host.status?.attestation, verified.claims, nodeName) : [];
      outcome = verified.verified && !hostAttested
        ? { ...verified, verified: false, reasons: [{ code: 'HOST_NOT_ATTESTED', message: `the replica's node ${nodeName} is not attested` }] }
        : notOnHost.length > 0 ? { ...verified, verified: false, reasons: notOnHost } : verified;
      const challenges = host.status?.replicaChallenges ?? [];
      const keys = host.status?.attestedReplicas ?? [];
      const live = await this.replicas.livePods([...challenges, ...keys], pod, now, replicaRoomOf(host));
      const nextKeys = outcome.verified ? withAttestedReplica(keys, keyEntry, live, now) : withoutAttestedReplica(keys, subject.namespace, subject.pod, live, now);
      const status: Record<string, unknown> = { replicaChallenges: withoutReplicaChallenge(challenges, subject.namespace, subject.pod, live, now) };
      if (JSON.stringify(nextKeys) !== JSON.stringify(keys)) status.attestedReplicas = nextKeys;
      // A failure on the state the host shares with the replica (host-suspect.ts) brings the host's re-check forward.
      const hostState = hostStateFailure(outcome, topology, host.status?.attestation, nodeName);
      if (hostState) status.attestation = { replicaFailure: { pod: `${subject.namespace}/${subject.pod}`, code: hostState.code, at: now.toISOString() } };
      try {
        await this.patch(resourcePath(ProviderNodes, undefined, host.metadata.name, 'status'), host.metadata.resourceVersion!, { status });
        break;
      } catch (err) {
        if (!(err instanceof StaleWrite) || attempt >= MAX_STALE_WRITES) throw err;
      }
      host = await this.stillPending(nodeName, pod, request.nonce, now, 'replica-verdict-conflict');
    }
    return outcome;
  }

  /** The host read again (`fresh`: from the apiserver), as long as the replica's challenge `nonce` is still pending on it. */
  private async stillPending(nodeName: string, pod: V1Pod, nonce: string, now: Date, fresh: FreshRead | false): Promise<ProviderNode> {
    let host = await this.providerNodeFor(nodeName, fresh);
    if (!fresh && pendingReplicaChallenge(host, pod, now)?.nonce !== nonce) host = await this.providerNodeFor(nodeName, 'replica-evidence-not-shown');
    if (pendingReplicaChallenge(host, pod, now)?.nonce !== nonce) {
      throw new Conflict('NONCE_MISMATCH: the challenge was answered meanwhile; fetch a new challenge');
    }
    return host;
  }

  /**
   * The verifier's outcome for replica evidence, by the host's topology (replica-topology.ts): on a
   * node-cvm host against the host's policy as it is (the node lists; the host comparison comes after);
   * on a pod-cvm host against the replica allow lists, proving the host's TEE and GPU model and the Pod's
   * GPU count. The evidence-age limit is measured from when this service issued the nonce.
   */
  private async verifyReplica(request: EvidenceRequest, policy: PolicyLookup, host: ProviderNode, pod: V1Pod, now: Date, issuedAt: Date): Promise<VerifyOutcome> {
    const refused = (reason: Reason): VerifyOutcome => ({ verified: false, reasons: [reason], claims: { simulated: false, gpus: [] } });
    if (!policy.found) return refused(policyNotFound(policy.name, `ProviderNode ${host.metadata.name}`));
    if (topologyOf(host) === 'node-cvm') return this.verifySafely(request, policy.spec, now, issuedAt);
    const replicaPolicy = podCvmReplicaPolicy(policy.spec, policy.name);
    if ('reason' in replicaPolicy) return refused(replicaPolicy.reason);
    const declared: DeclaredNode = { tee: host.spec.tee, gpus: { model: host.spec.gpus?.model ?? '', count: podGpuCount(pod, this.deps.config.gpuResourceName) } };
    return this.verifySafely(request, replicaPolicy.spec, now, issuedAt, declared);
  }

  /**
   * The verdict on the gate of the Pod it was judged for: conditioned on its uid, so a Pod deleted while
   * its evidence was checked and re-created under the same name (a replica replaced off a quarantined
   * node) does not get its predecessor's verdict. The apiserver refuses a patch whose uid differs.
   */
  private async writeGate(subject: Extract<Subject, { kind: 'replica' }>, uid: string, condition: Record<string, string>): Promise<void> {
    try {
      await fencedRequest(this.deps.rest, this.deps.fence, 'PATCH', resourcePath(Pods, subject.namespace, subject.pod, 'status'), {
        query: { fieldManager: SERVICE_FIELD_MANAGER }, contentType: 'application/strategic-merge-patch+json',
        body: { metadata: { uid }, status: { conditions: [condition] } },
      });
    } catch (err) {
      // Gone: 404. Replaced: the apiserver answers 422 Invalid, "metadata.uid: ... field is immutable".
      if (isNotFound(err) || (err instanceof KubeApiError && err.code === 422 && err.message.includes('metadata.uid'))) {
        throw new Conflict(`pod ${subject.namespace}/${subject.pod} (uid ${uid}) was deleted or replaced while its evidence was checked; its verdict is not recorded on another Pod — the new Pod attests for itself`);
      }
      throw err;
    }
  }

  /** A node challenge without issuedAt (written before it was recorded) was issued one TTL before its expiry. */
  private issuedAtFromExpiry(expiresAt: string): Date {
    return new Date(Date.parse(expiresAt) - this.deps.config.challengeTtlSeconds * 1000);
  }

  /** A verifier that throws has not verified anything: that is a rejection (fail closed). */
  private async verifySafely(request: EvidenceRequest, policy: AttestationPolicySpec, now: Date, nonceIssuedAt: Date, declared?: DeclaredNode): Promise<VerifyOutcome> {
    try {
      // The evidence-age limit is measured from when the nonce was issued (the verifier fails closed without it).
      const outcome = await this.deps.verify(request, { policy, now, nonceIssuedAt, ...(declared ? { declared } : {}) });
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

  /** The subject's AttestationPolicy. Not finding it is an answer (found: false), never a default policy. */
  private async policy(name: string | undefined): Promise<PolicyLookup> {
    const policyName = name ?? this.deps.config.defaultPolicyName;
    // A cached policy is the watch's delay behind the apiserver (milliseconds while it is connected).
    // That adds nothing to how long an edit takes to reach a verdict: evidence verified just before
    // the edit stands until the node's next re-attestation anyway, which is when an edit takes effect
    // (providernode/plan.ts). Per challenge and per answer from the apiserver, the policy GET was a
    // quarter of this service's requests at 1,000 nodes (the chaos bench).
    const cached = this.deps.policies?.get(undefined, policyName);
    if (cached) return { found: true, name: policyName, spec: cached.spec ?? {} };
    // Not cached (none, or created moments ago): asked, so a policy is never reported missing on a copy.
    try {
      const policy = await this.deps.rest.request<AttestationPolicy>('GET', resourcePath(AttestationPolicies, undefined, policyName));
      return { found: true, name: policyName, spec: policy.spec ?? {} };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return { found: false, name: policyName };
    }
  }

  /**
   * The ProviderNode of `nodeName`: the newest copy this process has, or (`fresh`) the apiserver's. Before
   * a write the copy is enough (the write is conditioned); a refusal is confirmed on a fresh read.
   */
  private async providerNodeFor(nodeName: string, fresh: FreshRead | false = false): Promise<ProviderNode> {
    return this.found(nodeName, await this.providerNodes.forNode(nodeName, fresh));
  }

  /** The node's ProviderNode once a copy shows what the request expects, or the apiserver's (provider-node-reads.ts forNodeShowing). */
  private async providerNodeShowing(nodeName: string, shows: (pn: ProviderNode) => boolean, why: FreshRead): Promise<ProviderNode> {
    return this.found(nodeName, await this.providerNodes.forNodeShowing(nodeName, shows, why));
  }

  private found(nodeName: string, pn: ProviderNode | undefined): ProviderNode {
    if (!pn) throw new Conflict(`no ProviderNode declares node ${nodeName}; create one (kubectl apply -f a ProviderNode with spec.nodeName: ${nodeName})`, 503);
    return pn;
  }

  /**
   * The replica's Pod (replica-reads.ts: the cached copy when it is the Pod the caller's token is bound to),
   * checked to be one its InferencePool controls; Conflict when it does not exist or is not a replica.
   */
  private async replicaPod(subject: Extract<Subject, { kind: 'replica' }>, caller: CallerIdentity): Promise<V1Pod> {
    const pod = await this.replicas.pod(subject.namespace, subject.pod, caller.podUid);
    if (!pod) throw new Conflict(`pod ${subject.namespace}/${subject.pod} does not exist`);
    await this.poolOfReplica(pod);
    return pod;
  }

  /** The InferencePool that controls `pod` (the cached copy when it is the one its owner reference names); Conflict when `pod` is not a replica. */
  private async poolOfReplica(pod: V1Pod): Promise<(InferencePool & KubeObject) | undefined> {
    // A replica is a Pod its InferencePool controls; the label alone is anyone's to write.
    const poolName = claimedPool(pod);
    const pool = poolName ? await this.replicas.pool(pod.metadata!.namespace!, poolName, controllerRefToClaimedPool(pod)?.uid) : undefined;
    const notReplica = whyNotAReplica(pod, pool);
    if (notReplica) throw new Conflict(`not a Chrysalis replica: ${notReplica}`);
    return pool;
  }

  /** JSON merge patch of a ProviderNode's status, conditioned on the resourceVersion the decision was based on. */
  private async patch(path: string, resourceVersion: string, body: Record<string, unknown>): Promise<void> {
    const metadata = { ...((body.metadata as Record<string, unknown>) ?? {}), resourceVersion };
    try {
      const written = await fencedRequest<ProviderNode>(this.deps.rest, this.deps.fence, 'PATCH', path, { query: { fieldManager: SERVICE_FIELD_MANAGER }, contentType: 'application/merge-patch+json', body: { ...body, metadata } });
      // The next read of this host, in the next turn, gets the object as written (provider-node-reads.ts).
      this.providerNodes.remember(written);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 409) throw new StaleWrite();
      throw err;
    }
  }
}

/**
 * What a replica's evidence is verified against, of its host (verifyReplica): the policy it names, its
 * topology, its TEE and GPU model. A host read later with another basis needs the evidence judged anew.
 */
function verificationBasis(host: ProviderNode, defaultPolicyName: string): string {
  return JSON.stringify([host.spec.policyRef?.name ?? defaultPolicyName, topologyOf(host), host.spec.tee, host.spec.gpus?.model ?? '']);
}

/**
 * What a node's evidence is verified against, of its ProviderNode and policy: the challenge answered (its
 * nonce and issue time), the policy as read, the declared TEE, GPUs and topology. A host read later with
 * the same basis gets the same verdict, so a refused write is retried without verifying again.
 */
function nodeVerdictBasis(pn: ProviderNode, policy: AttestationPolicySpec): string {
  const challenge = pn.status?.attestation?.challenge;
  return JSON.stringify([challenge?.nonce, challenge?.issuedAt, challenge?.expiresAt, policy, pn.spec.tee, pn.spec.gpus ?? null, topologyOf(pn)]);
}

/**
 * The status.attestation a node verdict writes on the host `pn` as it stands: a pass consumes the
 * challenge and records the claims; a rejection is pending until MAX_REJECTED_NODE_ANSWERS of them for one
 * nonce (counted on `pn`), then final.
 */
function nodeVerdictStatus(outcome: VerifyOutcome, request: EvidenceRequest, pn: ProviderNode, now: Date, expiresAt: string): { attestation: Record<string, unknown>; final: boolean } {
  if (outcome.verified) {
    return { final: true, attestation: { challenge: null, lastFailure: null, pendingRejections: null, verifiedAt: now.toISOString(), expiresAt, publicKey: request.publicKey, ...claimsForStatus(outcome.claims) } };
  }
  const failure = { code: outcome.reasons[0]?.code ?? 'REJECTED', message: summarize(outcome.reasons), at: now.toISOString() };
  const prior = pn.status?.attestation?.pendingRejections;
  const count = (prior?.nonce === request.nonce ? prior.count : 0) + 1;
  const final = count >= MAX_REJECTED_NODE_ANSWERS;
  return { final, attestation: final ? { challenge: null, pendingRejections: null, lastFailure: failure } : { pendingRejections: { nonce: request.nonce, count, ...failure } } };
}

function policyNotFound(name: string, of: string): Reason {
  return { code: 'POLICY_NOT_FOUND', message: `AttestationPolicy "${name}" (the policyRef of ${of}) does not exist: no evidence is verified without a policy; create it or correct spec.policyRef.name` };
}

function checkNonce(got: string, expected: string | undefined, expiresAt: string | undefined, now: Date): void {
  if (!expected || !expiresAt) throw new Conflict('no challenge is pending for this subject; fetch one first', 503);
  if (got !== expected) throw new Conflict('NONCE_MISMATCH: the evidence answers a challenge that is not the pending one (replayed or stale); fetch a new challenge');
  if (Date.parse(expiresAt) <= now.getTime()) throw new Conflict('the challenge expired before the evidence arrived; fetch a new challenge', 503);
}

function claimsForStatus(c: AttestationClaims): Record<string, unknown> {
  return {
    measurement: c.measurement ?? null, imageHash: c.imageHash ?? null, tcb: c.tcb ?? null, tcbStatus: c.tcbStatus ?? null,
    chipId: c.chipId ?? null, simulated: c.simulated, gpus: c.gpus,
  };
}

/**
 * Whether `pod` is the Pod of `uid` with the attestation gate exactly as this service sets it on a pass
 * (True, Verified, its message): a gate in an earlier version's words (an expiry that would go stale) is
 * written once more.
 */
function verifiedGate(pod: V1Pod | undefined, uid: string): boolean {
  return pod?.metadata?.uid === uid && (pod.status?.conditions ?? []).some((c) =>
    c.type === READINESS_GATE_ATTESTED && c.status === 'True' && c.reason === 'Verified' && c.message === REPLICA_VERIFIED_MESSAGE);
}

function summarize(reasons: Reason[]): string {
  return reasons.map((r) => `${r.code}: ${r.message}`).join('; ').slice(0, 1000) || 'rejected';
}

/** Condition reasons are CamelCase: NONCE_MISMATCH → NonceMismatch. */
function toReason(code: string | undefined): string {
  return (code ?? 'Rejected').toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') || 'Rejected';
}
