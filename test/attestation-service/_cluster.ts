// Shared set-up for the attestation service's tests against the real apiserver (not a test file): a GPU
// Node and its ProviderNode with a pending challenge (as the ProviderNode controller leaves it), the
// node attesters' ServiceAccount, Pods on the node, and TokenRequests made as the kubelet projects them.
// The service runs in this process on the test's admin client with the real TokenReview.
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { AttestationService, type EvidenceVerifier } from '../../operator/src/attestation/service/service.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Nodes, Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { isConflict, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_POOL } from '../../operator/src/marks.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster, useNamespace } from '../cluster/index.js';

export const AUDIENCE = 'chrysalis-attestation';
export const ATTESTER_SA = 'chrysalis-attester';

export interface NodeSetup {
  rest: RestClient;
  node: string;
  nodeUid: string;
  policy: string;
  /** Namespace of the node attesters' ServiceAccount. */
  attesterNs: string;
  /** A tenant namespace with its own Pods on the node. */
  tenantNs: string;
  nonce: string;
  config: OperatorConfig;
}

/**
 * What the host's last verified evidence recorded (nodeSetup writes it): a replica on a node-cvm host must
 * show the same chip and launch measurement (replica-topology.ts), so a fake verifier's passing replica
 * outcome carries these claims.
 */
export const HOST_CLAIMS = { measurement: '5a'.repeat(48), imageHash: 'c3'.repeat(32), chipId: '9e'.repeat(64), simulated: true } as const;

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A Node (not kwok's: nothing runs on it), its ProviderNode attested an hour ago and now challenged, its
 * policy (or none, with `policy: false`), the attesters' namespace and ServiceAccount, a tenant namespace.
 */
export async function nodeSetup(t: ExecutionContext, options: { policy?: boolean; policySpec?: Record<string, unknown>; topology?: 'node-cvm' | 'pod-cvm' } = {}): Promise<NodeSetup> {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  await installCrds(kc);
  const rest = new RestClient(kc, { qps: 200, burst: 400, userAgent: 'chrysalis-tests' });
  t.teardown(() => rest.close());
  const suffix = randomBytes(3).toString('hex');
  const node = `svc-gpu-${suffix}`;
  const policy = `svc-policy-${suffix}`;
  const created = await rest.request<{ metadata: { uid: string } }>('POST', resourcePath(Nodes), { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
  t.teardown(() => rest.request('DELETE', resourcePath(Nodes, undefined, node)).catch(() => undefined));
  if (options.policy !== false) {
    await rest.request('POST', resourcePath(AttestationPolicies), { body: { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: policy }, spec: { reattestIntervalSeconds: 3600, ...options.policySpec } } });
    t.teardown(() => rest.request('DELETE', resourcePath(AttestationPolicies, undefined, policy)).catch(() => undefined));
  }
  await rest.request('POST', resourcePath(ProviderNodes), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: node },
    spec: { nodeName: node, tee: 'simulated', gpus: { model: 'H100', count: 1, ccMode: 'on' }, payoutAddress: `0:${'ab'.repeat(32)}`, priceCoefficient: 1000, policyRef: { name: policy }, ...(options.topology ? { topology: options.topology } : {}) },
  } });
  t.teardown(() => rest.request('DELETE', resourcePath(ProviderNodes, undefined, node)).catch(() => undefined));
  // What the controller and an earlier verdict leave: attested an hour ago, a challenge pending now.
  const now = Date.now();
  const nonce = randomBytes(32).toString('hex');
  await rest.request('PATCH', resourcePath(ProviderNodes, undefined, node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: {
      conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: 'test', lastTransitionTime: new Date(now - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z') }],
      attestation: {
        verifiedAt: new Date(now - 3_600_000).toISOString(), expiresAt: new Date(now + 300_000).toISOString(), publicKey: 'cd'.repeat(32), ...HOST_CLAIMS,
        challenge: { nonce, issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 300_000).toISOString() },
      },
    } },
  });
  const attesterNs = await useNamespace(t, 'svc-attesters');
  await rest.request('POST', `/api/v1/namespaces/${attesterNs}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: ATTESTER_SA } } });
  const tenantNs = await useNamespace(t, 'svc-tenant');
  const config: OperatorConfig = { ...DEFAULT_CONFIG, attesterServiceAccount: { namespace: attesterNs, name: ATTESTER_SA } };
  return { rest, node, nodeUid: created.metadata.uid, policy, attesterNs, tenantNs, nonce, config };
}

/**
 * An InferencePool named `name` in `namespace` (created if absent; no controller acts on it here): what a
 * replica Pod must be controlled by. Its uid is what the Pod's owner reference names.
 */
export async function replicaPool(rest: RestClient, namespace: string, name: string): Promise<{ name: string; uid: string }> {
  const path = resourcePath(InferencePools, namespace, name);
  const existing = await rest.request<{ metadata: { uid: string } }>('GET', path).catch(() => undefined);
  const pool = existing ?? await rest.request<{ metadata: { uid: string } }>('POST', resourcePath(InferencePools, namespace), { body: {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', metadata: { name },
    spec: {
      model: { name: 'm', source: 'pvc://models/m', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: 1, max: 1 }, gpusPerReplica: 1, gpuModels: ['H100'], tee: { types: ['simulated'] },
      settlementAccountRef: { name: 'acct' },
    },
  } });
  return { name, uid: pool.metadata.uid };
}

/**
 * A Pod bound to `node` (no scheduler, no kubelet: it only has to exist for a token to be bound to it).
 * `replicaOf`: a replica as the InferencePool controller makes it — labelled with the pool and controlled
 * by it (the pool is created if absent). `labels` and `ownerReferences` are put on as given (an impostor's).
 */
export async function podOn(rest: RestClient, namespace: string, name: string, node: string, options: { serviceAccount?: string; replicaOf?: string; labels?: Record<string, string>; ownerReferences?: unknown[] } = {}): Promise<V1Pod> {
  // The namespace's ServiceAccount appears shortly after the namespace (kube-controller-manager).
  const account = options.serviceAccount ?? 'default';
  await until(`ServiceAccount ${namespace}/${account}`, () => rest.request('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/${account}`));
  const pool = options.replicaOf ? await replicaPool(rest, namespace, options.replicaOf) : undefined;
  const labels = { ...(pool ? { [LABEL_POOL]: pool.name } : {}), ...options.labels };
  const ownerReferences = pool ? [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: pool.name, uid: pool.uid, controller: true, blockOwnerDeletion: true }] : options.ownerReferences;
  return rest.request<V1Pod>('POST', resourcePath(Pods, namespace), { body: {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, ...(Object.keys(labels).length ? { labels } : {}), ...(ownerReferences ? { ownerReferences } : {}) },
    spec: { nodeName: node, serviceAccountName: account, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
  } });
}

/** A TokenRequest with the service's audience, bound to `ref`: what the kubelet projects into a Pod. */
export async function boundToken(rest: RestClient, namespace: string, serviceAccount: string, ref: { kind: 'Node' | 'Pod'; name: string; uid: string }): Promise<string> {
  const tr = await rest.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, { body: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { audiences: [AUDIENCE], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', ...ref } },
  } });
  return tr.status.token;
}

export const podToken = (rest: RestClient, pod: V1Pod) =>
  boundToken(rest, pod.metadata!.namespace!, pod.spec?.serviceAccountName ?? 'default', { kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! });

export function service(setup: Pick<NodeSetup, 'rest' | 'config'>, verify: EvidenceVerifier): AttestationService {
  return new AttestationService({ rest: setup.rest, fence: NO_FENCE, config: setup.config, verify });
}

export const getProviderNode = (rest: RestClient, name: string) => rest.request<ProviderNode>('GET', resourcePath(ProviderNodes, undefined, name));

/** A well-formed evidence request whose contents are junk: what an attacker can send without a TEE. */
export function junkEvidence(subject: { kind: 'node'; nodeName: string } | { kind: 'replica'; namespace: string; pod: string }, nonce: string) {
  return {
    subject, nonce, publicKey: randomBytes(32).toString('hex'),
    cpu: { type: 'sev-snp', report: randomBytes(1184).toString('base64') },
    gpus: [],
  };
}

export const post = (svc: AttestationService, path: string, token: string, body: unknown) =>
  svc.handle('POST', path, { authorization: `Bearer ${token}` }, body);

/** One replica attestation through `svc` with the Pod's own bound token: its challenge, then evidence answering it. */
export async function attestReplica(svc: AttestationService, s: Pick<NodeSetup, 'rest'>, pod: V1Pod) {
  const token = await podToken(s.rest, pod);
  const subject = { kind: 'replica' as const, namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! };
  const challenge = await post(svc, '/v1/challenge', token, { subject });
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  const nonce = (challenge.body as { nonce: string }).nonce;
  const evidence = await post(svc, '/v1/evidence', token, junkEvidence(subject, nonce));
  return { challenge, evidence, body: evidence.body as { verified: boolean; reasons: Array<{ code: string }> } };
}

export { isConflict };
