// A settlement pipeline on the shared control plane: a namespace with a sandbox SettlementAccount, an
// InferencePool billing to it, ProviderNodes (cluster-scoped, removed afterwards) and attested replica
// Pods whose signed usage goes through UsageIngest. Not a test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import type { KeyPair } from '@ton/crypto';
import { Address } from '@ton/core';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { SettlementAccount } from '../../operator/src/api/settlementaccount.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { EventRecorder } from '../../operator/src/kube/events.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';
import { LABEL_POOL } from '../../operator/src/marks.js';
import { CONDITION_ATTESTED, UsageIngest } from '../../operator/src/settlement/metering.js';
import { isConflict } from '../../operator/src/kube/rest.js';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { installCrds } from '../../dev/install-crds.js';
import { testCluster, useNamespace } from '../cluster/index.js';

export interface Env {
  ns: string;
  rest: RestClient;
  client: KubeClient;
  events: EventRecorder;
  ingest: UsageIngest;
  /** The operator's sandbox state root for this env (a fresh temporary directory). */
  sandboxRoot: string;
  /** The account's sandbox chain state: the default place under the root, `<root>/<namespace>/<name>`. */
  stateDir: string;
  account: string;
  /** ProviderNode names created by this env (cluster-scoped) */
  providerNodes: string[];
  /** What the operator's ProviderNode informer would hold: every ProviderNode addProviderNode made. */
  providerNodeCache: Store<ProviderNode & KubeObject>;
}

let crds: Promise<void> | undefined;

export async function setUpEnv(t: ExecutionContext, opts: { prefix?: string; price?: string } = {}): Promise<Env> {
  const cluster = await testCluster();
  const kc = cluster.kubeConfig();
  crds ??= installCrds(kc);
  await crds;
  const rest = new RestClient(kc, { qps: 200, burst: 400 });
  const client = new KubeClient(rest, NO_FENCE);
  const events = new EventRecorder({ client: rest, fence: NO_FENCE, instance: 'settlementaccount-test', windowMs: 0 });
  const ns = await useNamespace(t, opts.prefix ?? 'settle');
  const sandboxRoot = mkdtempSync(join(tmpdir(), 'chrysalis-settle-'));
  const stateDir = join(sandboxRoot, ns, 'acct');
  const providerNodeCache = new Store<ProviderNode & KubeObject>();
  const env: Env = { ns, rest, client, events, ingest: new UsageIngest({ client, events, providerNodes: providerNodeCache }), sandboxRoot, stateDir, account: 'acct', providerNodes: [], providerNodeCache };
  t.teardown(async () => {
    for (const n of env.providerNodes) {
      await client.delete(ProviderNodes, n).catch(() => undefined);
      await client.delete(Nodes, `${n}-node`).catch(() => undefined);
    }
    rest.close();
    rmSync(sandboxRoot, { recursive: true, force: true });
  });
  await client.create(SettlementAccounts, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount',
    metadata: { name: env.account, namespace: ns },
    spec: { network: 'sandbox', pricePerUnitNanoton: opts.price ?? '1000000', commitPeriodSeconds: 10 },
  } as SettlementAccount & KubeObject);
  await client.create(InferencePools, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name: 'pool', namespace: ns },
    spec: {
      model: { name: 'm', source: 'pvc://models/m', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: 1, max: 4 }, gpusPerReplica: 1, gpuModels: ['H100'], tee: { types: ['simulated'] },
      settlementAccountRef: { name: env.account },
    },
  });
  return env;
}

/** A random basechain payout address. */
export function newPayout(): Address {
  return new Address(0, randomBytes(32));
}

export async function addProviderNode(env: Env, payout: Address): Promise<string> {
  const name = `${env.ns}-pn-${env.providerNodes.length}`;
  env.providerNodes.push(name);
  // A real (kwok-managed) Node: the Pod garbage collector deletes Pods bound to a Node that does not exist.
  const resources = { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': '8' };
  await env.client.create(Nodes, {
    apiVersion: 'v1', kind: 'Node', metadata: { name: `${name}-node`, labels: { type: 'kwok' } },
    status: { capacity: resources, allocatable: resources },
  });
  const created = await env.client.create<ProviderNode & KubeObject>(ProviderNodes, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name },
    spec: { nodeName: `${name}-node`, tee: 'simulated', gpus: { model: 'H100', count: 8 }, payoutAddress: payout.toRawString() },
  } as ProviderNode & KubeObject);
  // The host is attested for a day, as the attestation service and the ProviderNode controller record it:
  // metering counts a replica's usage only while its host's attestation holds.
  env.providerNodeCache.put(await setHostAttestation(env, created, new Date(Date.now() + 24 * 3600 * 1000)));
  return name;
}

/** Records the host's attestation as valid until `expiresAt` (in the past: lapsed), conditions included. */
export async function setHostAttestation(env: Env, pn: ProviderNode & KubeObject, expiresAt: Date): Promise<ProviderNode & KubeObject> {
  const at = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const verifiedAt = new Date(Math.min(Date.now(), expiresAt.getTime() - 3600 * 1000));
  return env.rest.request<ProviderNode & KubeObject>('PUT', resourcePath(ProviderNodes, undefined, pn.metadata.name!, 'status'), {
    body: {
      ...pn,
      status: {
        ...pn.status,
        attestation: { ...pn.status?.attestation, verifiedAt: at(verifiedAt), expiresAt: at(expiresAt) },
        conditions: [{ type: 'Attested', status: 'True', reason: 'Verified', message: 'set by the test', lastTransitionTime: at(verifiedAt) }],
      },
    },
  });
}

/**
 * An attested replica Pod of the env's pool bound to the ProviderNode's Node: its key is recorded where the
 * attestation service records it (the ProviderNode's status.attestedReplicas, for the Pod's uid) and its
 * attested condition is set. `annotations` are put on the Pod as given (metering must ignore them).
 */
export async function addReplica(env: Env, providerNode: string, pod: string, key: KeyPair, opts: { attested?: boolean; expires?: string; annotations?: Record<string, string> } = {}): Promise<void> {
  // Controlled by the env's pool, as the InferencePool controller makes replicas (metering refuses a Pod
  // that only carries the pool label).
  const owner = (await env.client.get<KubeObject>(InferencePools, 'pool', env.ns))!;
  const ownerReferences = [{ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'pool', uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
  const body = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: pod, namespace: env.ns, labels: { [LABEL_POOL]: 'pool' }, ownerReferences, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: { nodeName: `${providerNode}-node`, automountServiceAccountToken: false, containers: [{ name: 'runtime', image: 'registry.invalid/runtime:1' }] },
  };
  let uid = '';
  for (let attempt = 0; ; attempt++) {
    try {
      uid = (await env.client.create<{ metadata: { uid: string } }>(Pods, body)).metadata.uid;
      break;
    } catch (err) {
      // The namespace's default ServiceAccount may not exist yet.
      if (attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // kwok plays the kubelet and marks the Pod Ready; wait for that, then add the attestation service's
  // condition with a strategic merge (merged by type, so neither write drops the other's conditions).
  for (let i = 0; i < 300; i++) {
    const live = await env.client.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(Pods, pod, env.ns);
    if (live?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await env.rest.request('PATCH', resourcePath(Pods, env.ns, pod, 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: CONDITION_ATTESTED, status: opts.attested === false ? 'False' : 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  await recordAttestedKey(env, providerNode, { namespace: env.ns, pod, uid, publicKey: key.publicKey.toString('hex'), expiresAt: opts.expires ?? new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
}

/** Writes (replaces) a Pod's entry in the ProviderNode's status.attestedReplicas, as the attestation service does. */
export async function recordAttestedKey(env: Env, providerNode: string, entry: NonNullable<NonNullable<ProviderNode['status']>['attestedReplicas']>[number]): Promise<void> {
  for (;;) {
    const node = (await env.client.get<ProviderNode & KubeObject>(ProviderNodes, providerNode))!;
    const others = (node.status?.attestedReplicas ?? []).filter((e) => !(e.namespace === entry.namespace && e.pod === entry.pod));
    try {
      await env.rest.request('PUT', resourcePath(ProviderNodes, undefined, providerNode, 'status'), {
        body: { ...node, status: { ...node.status, attestedReplicas: [...others, entry] } },
      });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

export async function listProviderNodes(env: Env): Promise<ProviderNode[]> {
  const all = (await env.client.list<ProviderNode & KubeObject>(ProviderNodes)).items;
  return all.filter((n) => env.providerNodes.includes(n.metadata.name!));
}

export async function getAccount(env: Env): Promise<SettlementAccount & KubeObject> {
  return (await env.client.get<SettlementAccount & KubeObject>(SettlementAccounts, env.account, env.ns))!;
}

export function accountKey(env: Env): string {
  return `SettlementAccount/${env.ns}/${env.account}`;
}
