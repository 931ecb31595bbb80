// The fleet simulator: kwok GPU Nodes with their ProviderNodes, an AttestationPolicy trusting one
// SimulatedTee, and — in this process — a node attester per node and a sidecar-equivalent replica
// attester (with signed usage reports) per bound replica Pod, all talking HTTPS to the real attestation
// service with ServiceAccount tokens bound to their Node or Pod. Faults make a node's evidence bad in a
// chosen way (or delete its Node) so tests can check that the operator refuses or quarantines it.
// Used by test/fleet, the benchmarks and `chrysalis demo`.
import { setMaxListeners } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { SIMULATED_MEASUREMENT, SimulatedSnpPlatform } from '../../operator/src/attestation/simulated/snp.js';
import { SNP_SIGNED_END } from '../../operator/src/attestation/sev-snp/report.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { isConflict, isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL, TAINT_UNATTESTED } from '../../operator/src/marks.js';
import { Attester } from '../../attester/src/attester.js';
import { reportDataFor } from '../../attester/src/identity.js';
import { AttesterError } from '../../attester/src/errors.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedCpuSource, SimulatedGpuSource, type SimulatedGpuSettings } from '../../attester/src/simulated.js';
import { HttpsTransport, type Transport } from '../../attester/src/transport.js';
import { reattestationMayHelp, UsageReporter } from '../../attester/src/usage/reporter.js';

export type TeeLike = 'sev-snp' | 'tdx';
export type FaultKind = 'forged-signature' | 'replayed-nonce' | 'gpu-cc-off' | 'expired-evidence' | 'node-disappears';
export const FAULT_KINDS: readonly FaultKind[] = ['forged-signature', 'replayed-nonce', 'gpu-cc-off', 'expired-evidence', 'node-disappears'];

/** Label on every Node and ProviderNode the fleet made: its namePrefix. */
export const LABEL_FLEET = 'chrysalis.dev/fleet';
/** Which real TEE family a simulated node stands in for (all use tee: simulated). */
export const LABEL_TEE_LIKE = 'chrysalis.dev/simulated-tee-like';
export const ATTESTER_SERVICE_ACCOUNT = 'chrysalis-attester';

export interface FleetOptions {
  nodes: number;
  /** URL of the attestation service (https) and the CA its certificate chains to. */
  serviceUrl: string;
  ca: string | Buffer;
  gpusPerNode?: number;
  teeMix?: TeeLike[];
  /** Distinct payout addresses, assigned round-robin (default: one per node). */
  providers?: number;
  /** Node/ProviderNode names are `<namePrefix>-<i>` (default `gpu`). */
  namePrefix?: string;
  /** AttestationPolicy to create and reference (default `default`). */
  policyName?: string;
  /** Policy re-attestation interval (default 3600; the minimum 30 lets tests see re-attestation). */
  reattestIntervalSeconds?: number;
  /** Namespace of the node attesters' ServiceAccount (default chrysalis-fleet). */
  namespace?: string;
  /** Run replica attesters for bound `chrysalis.dev/pool` Pods on fleet nodes (default true). */
  replicas?: boolean;
  /**
   * Each replica attester renews at least this often, as the sidecar's `--reattest-interval` (default: only
   * before its attestation lapses, a tenth to a fifth of its lifetime early).
   */
  replicaRenewSeconds?: number;
  /** Usage report interval per replica (default 5000 ms) and synthetic tokens per second per replica. */
  usageIntervalMs?: number;
  tokensPerSecond?: number;
  /** ProviderNode spec.priceCoefficient of every fleet node (default 1000). */
  priceCoefficient?: number;
  /** How often the fleet looks at ProviderNodes and Pods (default 1000 ms). */
  pollMs?: number;
  /** Extra labels on the Nodes and ProviderNodes. */
  labels?: Record<string, string>;
  /** Faults present from the start, before any evidence is sent. */
  faults?: Record<string, Exclude<FaultKind, 'node-disappears'>>;
}

export interface FleetStats {
  nodeVerdicts: { verified: number; rejected: number; refused: number };
  replicaAttesters: number;
  replicasAttested: number;
  /**
   * Replica attester loops that stopped on an error they do not retry (as a real attester process would
   * exit, and its container be restarted); each is started again after a pause. `lastAttesterError` says why.
   */
  replicaAttesterRestarts: number;
  lastAttesterError?: string;
  usageAccepted: number;
  usageRefused: number;
  /**
   * Last reports of replicas whose Pod went away while the fleet ran (the attester CLI sends one on
   * SIGTERM, UsageReporter.finalReport): accepted, or not (refused, or not through within its deadline).
   */
  finalReports: { accepted: number; notAccepted: number };
}

/** Token counters as a usage report carries them (cumulative over a replica's life). */
export interface TokenCounts {
  promptTokens: bigint;
  generationTokens: bigint;
  cachedPromptTokens: bigint;
}

/**
 * One replica's books, kept by the fleet beside what metering keeps, so a bench can check that metering
 * lost nothing and added nothing: what the replica served, what the service accepted, what was sent.
 */
export interface ReplicaUsage {
  /** `<namespace>/<pod>` */
  pod: string;
  /** The node it ran on (a replica never moves; a replacement is another Pod). */
  node: string;
  /** Its Pod went away while the fleet ran on (its last report was then sent, UsageReporter.finalReport). */
  gone: boolean;
  /** What its simulated gateway counted: after stopTraffic, or once its Pod went, the final count. */
  served: TokenCounts;
  /** The counters of the last report the service answered accepted (zero before any). */
  accepted: TokenCounts;
  /**
   * The counters of the last report sent, answered or not. An answer lost on the way (a timeout while the
   * service still folded it) leaves metering ahead of `accepted`, never ahead of this: counters only grow.
   */
  sent: TokenCounts;
}

export interface FirstAnswerTiming {
  started: number;
  challengeReceived?: number;
  verdictReceived?: number;
  failures: string[];
}

export interface Fleet {
  readonly nodeNames: string[];
  readonly payoutAddresses: string[];
  readonly tee: SimulatedTee;
  readonly policyName: string;
  /**
   * From the node's next evidence on (until clearFault), its evidence is bad in this way; node-disappears
   * deletes the Node now. gpu-cc-off is the hardware's state, so the evidence of the replicas on the node
   * shows it too (their sidecars read the same GPUs); the other faults are the node attester's own.
   */
  injectFault(node: string, fault: FaultKind): Promise<void>;
  clearFault(node: string): void;
  /** The synthetic inference traffic ends: replicas keep reporting, with counters that no longer grow. */
  stopTraffic(): void;
  stats(): FleetStats;
  /** Every replica the fleet ran, gone ones included: the fleet's own books of its usage. */
  usageLedger(): ReplicaUsage[];
  /**
   * Each node's first answer, timed (performance.now() of this process): when the fleet began it, when
   * the service handed out the challenge, when the verdict came back, and the transient failures in
   * between. The admission bench splits the cold start's slow tail with it.
   */
  firstAnswers(): Map<string, FirstAnswerTiming>;
  /** Stops every attester; `deleteObjects` also removes the Nodes, ProviderNodes and policy it made. */
  stop(options?: { deleteObjects?: boolean }): Promise<void>;
}

/**
 * The policy's timing for a re-attestation interval. The CRD requires evidence age and quarantine grace
 * below the interval; their defaults (300 s) are, except for the short intervals tests use.
 */
export function policyTiming(reattestIntervalSeconds: number) {
  if (reattestIntervalSeconds > 300) return { reattestIntervalSeconds };
  return {
    reattestIntervalSeconds,
    maxEvidenceAgeSeconds: Math.max(1, Math.floor(reattestIntervalSeconds * 0.8)),
    quarantineGraceSeconds: Math.max(1, Math.floor(reattestIntervalSeconds / 3)),
  };
}

/** A valid raw TON address `0:<64 hex>`, deterministic in `seed`. */
export function payoutAddress(seed: string): string {
  return `0:${Buffer.from(seed.padEnd(32, '.').slice(0, 32)).toString('hex')}`;
}

interface NodeState {
  name: string;
  uid: string;
  attester: Attester;
  fault?: Exclude<FaultKind, 'node-disappears'>;
  answered?: string;
  previousNonce?: string;
  busy: boolean;
  lastVerified?: boolean;
  lastTry: number;
  gone: boolean;
  firstAnswer?: FirstAnswerTiming;
}

/** Waits `ms`, or less if `signal` aborts; the abort listener goes with the timer (no listener build-up). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function createFleet(kc: KubeConfig, options: FleetOptions): Promise<Fleet> {
  const rest = new RestClient(kc, { qps: 200, burst: 400 });
  const gpus = options.gpusPerNode ?? 8;
  const prefix = options.namePrefix ?? 'gpu';
  const teeMix = options.teeMix?.length ? options.teeMix : (['sev-snp', 'tdx'] as TeeLike[]);
  const providerCount = Math.max(1, options.providers ?? options.nodes);
  const policyName = options.policyName ?? 'default';
  const saNamespace = options.namespace ?? 'chrysalis-fleet';
  const pollMs = options.pollMs ?? 1000;
  const tee = SimulatedTee.create({ gpus });
  const addresses = Array.from({ length: providerCount }, (_, i) => payoutAddress(`${prefix}-provider-${i}`));
  const nodeNames = Array.from({ length: options.nodes }, (_, i) => `${prefix}-${i}`);
  const labels = { ...(options.labels ?? {}), [LABEL_FLEET]: prefix };
  const stats: FleetStats = { nodeVerdicts: { verified: 0, rejected: 0, refused: 0 }, replicaAttesters: 0, replicasAttested: 0, replicaAttesterRestarts: 0, usageAccepted: 0, usageRefused: 0, finalReports: { accepted: 0, notAccepted: 0 } };
  const abort = new AbortController();
  // Every node and replica attester of the fleet derives its signal from this one (AbortSignal.any), so
  // it legitimately has one listener per attester, far more than Node's leak warning threshold of 10.
  setMaxListeners(0, abort.signal);

  // --- Objects: policy, ServiceAccount, Nodes, ProviderNodes. ---
  const policy = {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: policyName },
    // The one guest image the simulated TEE runs is pinned, as a real policy pins its images (a policy
    // without an image allow list is flagged AllowsAnyImage).
    spec: { trustedRoots: [tee.rootPem], allowSimulated: true, allowedMeasurements: [Buffer.from(SIMULATED_MEASUREMENT).toString('hex')], ...policyTiming(options.reattestIntervalSeconds ?? 3600) },
  };
  await apply(rest, resourcePath(AttestationPolicies, undefined, policyName), policy);
  await ensureServiceAccount(rest, saNamespace);

  // --- Bound ServiceAccount tokens, cached until close to expiry. ---
  const tokens = (() => {
    const cache = new Map<string, { token: string; until: number }>();
    const get = (key: string, ns: string, serviceAccount: string, ref: Record<string, string>) => async () => {
      const hit = cache.get(key);
      if (hit && hit.until > Date.now()) return hit.token;
      // The kubelet projects a token file that survives an apiserver outage; here the TokenRequest itself
      // needs the apiserver, so its failure is transient (retried with backoff), not the attester's end.
      const tr = await rest.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`, { body: {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
        spec: { audiences: ['chrysalis-attestation'], expirationSeconds: 3600, boundObjectRef: ref },
      } }).catch((err: unknown) => {
        throw new AttesterError('TOKEN_UNAVAILABLE', `TokenRequest for ${key} failed: ${err instanceof Error ? err.message : String(err)}`, { transient: true, cause: err });
      });
      cache.set(key, { token: tr.status.token, until: Date.now() + 3_000_000 });
      return tr.status.token;
    };
    return {
      forNode: (name: string, uid: string) => get(`node/${name}`, saNamespace, ATTESTER_SERVICE_ACCOUNT, { kind: 'Node', apiVersion: 'v1', name, uid }),
      // As the kubelet projects it into the sidecar: a token of the Pod's own ServiceAccount, bound to
      // the Pod (the apiserver refuses to bind another account's token to it).
      forPod: (pod: V1Pod) => get(`pod/${pod.metadata!.namespace}/${pod.metadata!.name}/${pod.metadata!.uid}`, pod.metadata!.namespace!, pod.spec?.serviceAccountName ?? 'default',
        { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! }),
    };
  })();

  const states = new Map<string, NodeState>();
  const expiredPlatform = SimulatedSnpPlatform.create(tee.root, { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  await Promise.all(nodeNames.map(async (name, i) => {
    const teeLike = teeMix[i % teeMix.length]!;
    const nodeLabels = { ...labels, type: 'kwok', [LABEL_TEE_LIKE]: teeLike };
    const resources = { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': String(gpus) };
    const node = await rest.request<{ metadata: { uid: string } }>('POST', resourcePath(Nodes), { body: {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels: nodeLabels },
      spec: { taints: [{ key: TAINT_UNATTESTED, value: 'true', effect: 'NoSchedule' }] },
      status: { capacity: resources, allocatable: resources },
    } });
    await rest.request('POST', resourcePath(ProviderNodes), { body: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
      metadata: { name, labels: { ...labels, [LABEL_TEE_LIKE]: teeLike } },
      spec: { nodeName: name, tee: 'simulated', gpus: { model: 'H100', count: gpus, ccMode: 'on' }, payoutAddress: addresses[i % providerCount]!, priceCoefficient: options.priceCoefficient ?? 1000, policyRef: { name: policyName } },
    } });
    const state: NodeState = { name, uid: node.metadata.uid, busy: false, lastTry: 0, gone: false, attester: undefined as unknown as Attester };
    const fault = options.faults?.[name];
    if (fault) state.fault = fault;
    state.attester = new Attester({
      subject: { kind: 'node', nodeName: name },
      cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee),
      transport: faultyTransport(new HttpsTransport({ serviceUrl: options.serviceUrl, ca: options.ca, token: tokens.forNode(name, state.uid) }), state),
      retry: { initialMs: 200, maxMs: 2000, maxAttempts: 5 },
    });
    states.set(name, state);
  }));

  // Evidence changes for a faulty node, applied to the request the attester built.
  function faultyTransport(inner: Transport, state: NodeState): Transport {
    // The first answer's timing (firstAnswers) is taken here, around the real calls.
    const timed = async <T>(call: () => Promise<T>, done: (t: FirstAnswerTiming) => void): Promise<T> => {
      const timing = state.firstAnswer;
      const open = timing !== undefined && timing.verdictReceived === undefined;
      try {
        const result = await call();
        if (open) done(timing);
        return result;
      } catch (err) {
        if (open) timing.failures.push(err instanceof Error ? err.message.slice(0, 120) : String(err));
        throw err;
      }
    };
    return {
      challenge: (r, s) => timed(() => inner.challenge(r, s), (t) => { t.challengeReceived ??= performance.now(); }),
      usage: (r, s) => inner.usage(r, s),
      evidence: (request, signal) => timed(async () => inner.evidence(await corrupt(request, state), signal), (t) => { t.verdictReceived = performance.now(); }),
    };
  }
  async function corrupt(request: EvidenceRequest, state: NodeState): Promise<EvidenceRequest> {
    if (!state.fault || request.cpu.type !== 'simulated') return request;
    const nonce = Buffer.from(request.nonce, 'hex');
    switch (state.fault) {
      case 'forged-signature': {
        const report = Buffer.from(request.cpu.report, 'base64');
        report[SNP_SIGNED_END + 8] = (report[SNP_SIGNED_END + 8] ?? 0) ^ 0xff;
        return { ...request, cpu: { ...request.cpu, report: report.toString('base64') } };
      }
      case 'replayed-nonce': {
        // Evidence made for an earlier challenge, sent again as the answer to the current one. A rejected
        // answer leaves the challenge pending, so the previous answer may have been to this very nonce:
        // evidence for it would be genuine, not replayed.
        const old = state.previousNonce !== undefined && state.previousNonce !== request.nonce ? state.previousNonce : randomBytes(32).toString('hex');
        const replayed = await state.attester.buildEvidence(old);
        return { ...replayed, nonce: request.nonce };
      }
      case 'gpu-cc-off':
        return { ...request, gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, state.attester.identity.publicKey), ccFeature: null }).map((g, index) => ({ index, report: Buffer.from(g.evidence).toString('base64'), certChain: g.chainPem })) };
      case 'expired-evidence': {
        const { report, vcek, chainPem } = expiredPlatform.report({ reportData: reportDataFor(nonce, state.attester.identity.publicKey) });
        return { ...request, cpu: { type: 'simulated', report: Buffer.from(report).toString('base64'), vcek: Buffer.from(vcek).toString('base64'), chain: chainPem } };
      }
    }
  }

  // --- Node attesters: answer each challenge the operator writes into ProviderNode status. ---
  async function answer(state: NodeState, nonce: string): Promise<void> {
    state.busy = true;
    state.lastTry = Date.now();
    state.firstAnswer ??= { started: performance.now(), failures: [] };
    try {
      const outcome = await state.attester.attestOnce(abort.signal);
      state.previousNonce = outcome.nonce;
      state.answered = nonce;
      state.lastVerified = outcome.verified;
      if (outcome.verified) stats.nodeVerdicts.verified++;
      else stats.nodeVerdicts.rejected++;
    } catch {
      state.lastVerified = false;
      stats.nodeVerdicts.refused++; // e.g. 409 for a nonce the service no longer holds; tried again later
    } finally {
      state.busy = false;
    }
  }

  // --- Replica attesters: one per bound replica Pod on a fleet node. ---
  // The GPUs' state as each node's replicas read it, one object per node, read at each collection: a
  // gpu-cc-off fault turns confidential computing off for every replica on the node at once.
  const gpuStates = new Map<string, SimulatedGpuSettings>();
  const gpuStateOf = (node: string): SimulatedGpuSettings => {
    let state = gpuStates.get(node);
    if (!state) gpuStates.set(node, (state = {}));
    return state;
  };
  const replicas = new Map<string, AbortController>();
  const ledger: Array<Omit<ReplicaUsage, 'served'> & { served: () => TokenCounts }> = [];
  let trafficStoppedAt: number | undefined;
  function startReplica(pod: V1Pod): void {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const key = `${ns}/${name}/${pod.metadata!.uid}`;
    if (replicas.has(key)) return;
    const stop = new AbortController();
    replicas.set(key, stop);
    stats.replicaAttesters++;
    const signal = AbortSignal.any([stop.signal, abort.signal]);
    const transport = new HttpsTransport({ serviceUrl: options.serviceUrl, ca: options.ca, token: tokens.forPod(pod) });
    const podGpus = Number(pod.spec?.containers?.[0]?.resources?.limits?.['nvidia.com/gpu'] ?? 1) || 1;
    const attester = new Attester({
      subject: { kind: 'replica', namespace: ns, pod: name },
      cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee, gpuStateOf(pod.spec!.nodeName!)), transport,
      retry: { initialMs: 300, maxMs: 3000 }, rejectedRetryMs: 3000,
      ...(options.replicaRenewSeconds !== undefined ? { reattestIntervalMs: options.replicaRenewSeconds * 1000 } : {}),
    });
    const started = Date.now();
    const rate = options.tokensPerSecond ?? 1000;
    // A replica serves until the traffic stops or its Pod goes, whichever is first: a gone replica's
    // count must stay what its last report could carry, or the books would show tokens it never served.
    let endedAt: number | undefined;
    signal.addEventListener('abort', () => (endedAt ??= Date.now()), { once: true });
    const served = (): TokenCounts => {
      const s = Math.max(0, (Math.min(Date.now(), trafficStoppedAt ?? Infinity, endedAt ?? Infinity) - started) / 1000);
      return { promptTokens: BigInt(Math.floor(s * rate)), generationTokens: BigInt(Math.floor(s * rate / 4)), cachedPromptTokens: 0n };
    };
    const books = { pod: `${ns}/${name}`, node: pod.spec!.nodeName!, gone: false, served, accepted: NO_TOKENS, sent: NO_TOKENS };
    ledger.push(books);
    // The reporter's transport, with the fleet's books kept at each report sent and each answer.
    const usageTransport: Transport = {
      challenge: (r, s) => transport.challenge(r, s),
      evidence: (r, s) => transport.evidence(r, s),
      usage: async (report, s) => {
        books.sent = countsOf(report.report.counters);
        const response = await transport.usage(report, s);
        if (response.accepted) books.accepted = countsOf(report.report.counters);
        return response;
      },
    };
    const reporter = new UsageReporter({
      identity: attester.identity, namespace: ns, pod: name, transport: usageTransport, gpus: podGpus,
      intervalMs: options.usageIntervalMs ?? 5000,
      isAttested: () => attester.attested,
      // As the attester CLI does: a refused report (the operator holds no key for this Pod, its gate was
      // turned back) asks for a fresh attestation now rather than at the next renewal, unless the refusal
      // is that the host is not attested, which a replica's attestation cannot mend.
      onRefused: (response) => { if (reattestationMayHelp(response)) attester.requestReattest(); },
      tokens: {
        // Simulated traffic: what a gateway would have counted. After stopTraffic the counters stay where
        // they are: the replica keeps reporting, nothing new.
        snapshot: () => {
          const { promptTokens, generationTokens } = served();
          return { promptTokens, completionTokens: generationTokens };
        },
      },
    });
    let counted = false;
    void (async () => {
      while (!signal.aborted) {
        try {
          await attester.run(signal, (o) => {
            if (o.verified && !counted) { counted = true; stats.replicasAttested++; }
          });
        } catch (err) {
          // A real attester exits here and its container restarts; a loop that ended silently would leave
          // the replica unattested for the rest of the run (its gate turned back by the operator).
          if (signal.aborted) return;
          stats.replicaAttesterRestarts++;
          stats.lastAttesterError = err instanceof Error ? err.message : String(err);
          await sleep(3000, signal);
        }
      }
    })();
    void (async () => {
      while (!signal.aborted) {
        try {
          const r = await reporter.tick(signal);
          if (r) r.response.accepted ? stats.usageAccepted++ : stats.usageRefused++;
        } catch { /* next interval */ }
        await sleep(options.usageIntervalMs ?? 5000, signal);
      }
      // The replica's Pod is going while the fleet runs on: as the attester CLI does on SIGTERM, one last
      // report carries what was counted since the last accepted one. (When the whole fleet stops, nothing
      // is left to receive it.)
      if (abort.signal.aborted) return;
      books.gone = true;
      if (await reporter.finalReport()) stats.finalReports.accepted++;
      else stats.finalReports.notAccepted++;
    })();
  }

  // The fleet's view of its ProviderNodes (for challenges) and of replica Pods comes from watches: a
  // LIST of every ProviderNode each poll costs the apiserver more than the operator's own work at
  // thousands of nodes, and real attesters, each on its own machine, never list the fleet.
  const providerNodes = new Informer<ProviderNode & KubeObject>({ client: rest, resource: ProviderNodes, labelSelector: `${LABEL_FLEET}=${prefix}` });
  const replicaPods = new Informer<V1Pod & KubeObject>({ client: rest, resource: Pods, labelSelector: LABEL_POOL });
  providerNodes.start();
  if (options.replicas ?? true) replicaPods.start();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        for (const pn of providerNodes.list()) {
          const state = states.get(pn.metadata.name ?? "");
          const nonce = pn.status?.attestation?.challenge?.nonce;
          if (!state || state.gone || state.busy || !nonce) continue;
          // After a rejection or refusal, wait a while before answering the next challenge (as the attester's rejectedRetryMs).
          if ((nonce === state.answered || state.lastVerified === false) && Date.now() - state.lastTry < 5000) continue;
          void answer(state, nonce);
        }
        if ((options.replicas ?? true) && replicaPods.hasSynced()) {
          const live = new Set<string>();
          for (const pod of replicaPods.list()) {
            const node = pod.spec?.nodeName;
            if (!node || !states.has(node) || states.get(node)!.gone || pod.metadata?.deletionTimestamp) continue;
            const key = `${pod.metadata!.namespace}/${pod.metadata!.name}/${pod.metadata!.uid}`;
            live.add(key);
            startReplica(pod);
          }
          for (const [key, stop] of replicas) if (!live.has(key)) { stop.abort(); replicas.delete(key); }
        }
      } catch { /* a replica attester could not start: next round */ }
      await sleep(pollMs);
    }
  })();

  return {
    nodeNames, payoutAddresses: addresses, tee, policyName,
    async injectFault(node, fault) {
      const state = states.get(node);
      if (!state) throw new Error(`no fleet node ${node}`);
      if (fault === 'node-disappears') {
        state.gone = true;
        await rest.request('DELETE', resourcePath(Nodes, undefined, node)).catch((e) => { if (!isNotFound(e)) throw e; });
        return;
      }
      state.fault = fault;
      if (fault === 'gpu-cc-off') gpuStateOf(node).ccFeature = null;
    },
    clearFault(node) {
      const state = states.get(node);
      if (state) delete state.fault;
      delete gpuStates.get(node)?.ccFeature;
    },
    stopTraffic() {
      trafficStoppedAt ??= Date.now();
    },
    stats: () => structuredClone(stats),
    usageLedger: () => ledger.map((b) => ({ ...b, served: b.served() })),
    firstAnswers: () => new Map([...states].flatMap(([name, s]) => (s.firstAnswer ? [[name, s.firstAnswer] as const] : []))),
    async stop(opts = {}) {
      abort.abort();
      for (const c of replicas.values()) c.abort();
      await loop;
      await Promise.all([providerNodes.stop(), replicaPods.stop()]);
      if (opts.deleteObjects) {
        await Promise.all(nodeNames.flatMap((n) => [
          rest.request('DELETE', resourcePath(Nodes, undefined, n)).catch(() => undefined),
          rest.request('DELETE', resourcePath(ProviderNodes, undefined, n)).catch(() => undefined),
        ]));
        await rest.request('DELETE', resourcePath(AttestationPolicies, undefined, policyName)).catch(() => undefined);
      }
    },
  };
}

const NO_TOKENS: TokenCounts = Object.freeze({ promptTokens: 0n, generationTokens: 0n, cachedPromptTokens: 0n });

function countsOf(c: { promptTokens: string; generationTokens: string; cachedPromptTokens?: string }): TokenCounts {
  return { promptTokens: BigInt(c.promptTokens), generationTokens: BigInt(c.generationTokens), cachedPromptTokens: BigInt(c.cachedPromptTokens ?? '0') };
}

async function apply(rest: RestClient, path: string, body: unknown): Promise<void> {
  await rest.request('PATCH', path, { query: { fieldManager: 'chrysalis-fleet', force: true }, contentType: 'application/apply-patch+yaml', body });
}

async function ensureServiceAccount(rest: RestClient, ns: string): Promise<void> {
  await rest.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } }).catch((e) => { if (!isConflict(e)) throw e; });
  await rest.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: ATTESTER_SERVICE_ACCOUNT } } }).catch((e) => { if (!isConflict(e)) throw e; });
}
