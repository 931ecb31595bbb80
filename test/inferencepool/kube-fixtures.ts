// Cluster fixtures for the InferencePool tests and the placement benchmark: kwok GPU Nodes with
// ProviderNodes whose conditions the test sets directly (the real attestation flow is tested elsewhere),
// pools, and the controller run in this process. Everything writes as the admin with no leader fence.
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InferencePool, ProviderNode } from '../../operator/src/api/index.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import type { Informer } from '../../operator/src/kube/informer.js';
import { Store } from '../../operator/src/kube/store.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import type { TeeType } from '../../operator/src/placement/index.js';
import { inferencePoolController, type InferencePoolControllerParts } from '../../operator/src/controllers/inferencepool/controller.js';
import { InferencePools, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { Nodes, Pods, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { LABEL_ATTESTED, LABEL_GPU_MODEL, LABEL_POOL, LABEL_TEE } from '../../operator/src/marks.js';
import { silentLogger } from '../../operator/src/util/log.js';

export const GPU = 'nvidia.com/gpu';
const TEST_MANAGER = 'chrysalis-tests';

export function adminClient(kc: KubeConfig, rate = { qps: 1000, burst: 2000 }): KubeClient {
  return new KubeClient(new RestClient(kc, { ...rate, userAgent: 'chrysalis-tests' }), NO_FENCE);
}

/** A short random suffix, so cluster-scoped names and GPU models never collide between tests. */
export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

export function payoutAddress(provider: number, salt: string): string {
  const hex = Buffer.from(`${salt}-provider-${provider}`.padEnd(32, '.').slice(0, 32)).toString('hex');
  return `0:${hex}`;
}

export interface GpuFleetOptions {
  /** Node and ProviderNode names are `<prefix>-<i>`. */
  prefix: string;
  count: number;
  gpus?: number;
  /** A model unique to the test keeps other tests' pools off these nodes. */
  gpuModel: string;
  tee?: TeeType;
  /** Distinct providers, assigned round-robin (default 4). */
  providers?: number;
  /** Which nodes are Attested=True (default all). */
  attested?: (i: number) => boolean;
  /** Requests in flight at once while creating (default 32). */
  concurrency?: number;
}

export interface GpuFleet {
  names: string[];
  cleanup(): Promise<void>;
}

export function nodeName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(4, '0')}`;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inBatches<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function createGpuFleet(kc: KubeConfig, options: GpuFleetOptions): Promise<GpuFleet> {
  const client = adminClient(kc);
  const gpus = options.gpus ?? 8;
  const tee = options.tee ?? 'sev-snp';
  const providers = options.providers ?? 4;
  const names = Array.from({ length: options.count }, (_, i) => nodeName(options.prefix, i));
  await inBatches(names, options.concurrency ?? 32, async (name, i) => {
    const attested = options.attested?.(i) ?? true;
    await client.create(Nodes, {
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name,
        labels: {
          type: 'kwok', 'kubernetes.io/hostname': name,
          // The marks the ProviderNode controller keeps on attested Nodes; the benchmark's kube-scheduler
          // baseline selects on them.
          [LABEL_TEE]: tee, [LABEL_GPU_MODEL]: options.gpuModel, ...(attested ? { [LABEL_ATTESTED]: 'true' } : {}),
        },
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      },
      spec: {},
      status: {
        allocatable: { cpu: '1k', memory: '1Ti', pods: '1k', [GPU]: String(gpus) },
        capacity: { cpu: '1k', memory: '1Ti', pods: '1k', [GPU]: String(gpus) },
      },
    });
    await client.create(ProviderNodes, {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
      metadata: { name },
      spec: {
        nodeName: name, tee, gpus: { model: options.gpuModel, count: gpus, ccMode: 'on' },
        payoutAddress: payoutAddress(i % providers, options.prefix), priceCoefficient: 1000,
      },
    });
    await setProviderConditions(client, name, { attested, quarantined: false });
  });
  return {
    names,
    async cleanup() {
      await inBatches(names, options.concurrency ?? 32, async (name) => {
        await client.delete(ProviderNodes, name).catch(() => undefined);
        await client.delete(Nodes, name).catch(() => undefined);
      });
      client.rest.close();
    },
  };
}

/**
 * Sets Attested/Quarantined on a ProviderNode through its status subresource, as the admission loop would,
 * and for an attested node the verdict's times as the attestation service records them (placement counts
 * a node attested only while its expiresAt is ahead), valid for a day.
 */
export async function setProviderConditions(client: KubeClient, name: string, c: { attested: boolean; quarantined: boolean }): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const expiresAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await client.rest.request('PATCH', resourcePath(ProviderNodes, undefined, name, 'status'), {
    query: { fieldManager: TEST_MANAGER },
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        ...(c.attested ? { attestation: { verifiedAt: now, expiresAt } } : {}),
        conditions: [
          { type: 'Attested', status: c.attested ? 'True' : 'False', reason: c.attested ? 'EvidenceVerified' : 'AwaitingEvidence', message: 'set by the test', lastTransitionTime: now },
          { type: 'Quarantined', status: c.quarantined ? 'True' : 'False', reason: c.quarantined ? 'AttestationLapsed' : 'NotQuarantined', message: 'set by the test', lastTransitionTime: now },
        ],
      },
    },
  });
}

export function poolObject(name: string, namespace: string, replicas: number, gpuModel: string, overrides: Partial<InferencePool['spec']> = {}): KubeObject {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name, namespace },
    spec: {
      model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'pvc://models/llama-3.1-8b-instruct', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: replicas, max: replicas },
      gpusPerReplica: 1,
      gpuModels: [gpuModel],
      settlementAccountRef: { name: 'sandbox' },
      ...overrides,
    },
  };
}

export async function createPool(client: KubeClient, pool: KubeObject): Promise<InferencePool> {
  return client.create<KubeObject>(InferencePools, pool) as unknown as Promise<InferencePool>;
}

export async function getPool(client: KubeClient, namespace: string, name: string): Promise<InferencePool | undefined> {
  return client.get<KubeObject>(InferencePools, name, namespace) as unknown as Promise<InferencePool | undefined>;
}

export async function poolPods(client: KubeClient, namespace: string, pool: string): Promise<KubeObject[]> {
  return (await client.list<KubeObject>(Pods, { namespace, labelSelector: `${LABEL_POOL}=${pool}` })).items;
}

export const nodeOf = (pod: KubeObject): string | undefined => (pod.spec as { nodeName?: string } | undefined)?.nodeName;
export const isTerminating = (pod: KubeObject): boolean => pod.metadata?.deletionTimestamp !== undefined;

/** Polls `check` until it returns a value other than undefined; fails naming `what` and the last state. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}${describe ? `; last state: ${await describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface RunningController {
  manager: Manager;
  parts: InferencePoolControllerParts;
  stop(): Promise<void>;
}

export const TEST_CONFIG: OperatorConfig = { ...DEFAULT_CONFIG, runtimeClassByTee: {}, gpuResourceName: GPU };

/** The InferencePool controller alone, in this process, watching one namespace. */
export function startController(kc: KubeConfig, options: { namespace?: string; gateGraceMs?: number; qps?: number; burst?: number; workers?: number; labelLeadMs?: number; config?: OperatorConfig } = {}): RunningController {
  const manager = new Manager({
    kubeConfig: kc, leaderElection: false, health: false, logger: process.env.CHRYSALIS_TEST_LOGS ? undefined : silentLogger(),
    clientRateLimit: { qps: options.qps ?? 200, burst: options.burst ?? 400 },
    identity: `test-${uniqueSuffix()}`,
  });
  const parts = inferencePoolController({
    manager, config: options.config ?? TEST_CONFIG,
    ...(options.namespace ? { watchNamespace: options.namespace } : {}),
    ...(options.labelLeadMs !== undefined ? { labelLeadMs: options.labelLeadMs } : {}),
    ...(options.gateGraceMs !== undefined ? { gateGraceMs: options.gateGraceMs } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
  });
  const running = manager.run();
  return {
    manager, parts,
    async stop() {
      await manager.stop();
      await running;
    },
  };
}

/** True when the object is gone. */
export async function gone(client: KubeClient, resource: typeof Pods, name: string, namespace?: string): Promise<boolean> {
  try {
    return (await client.get(resource, name, namespace)) === undefined;
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
}

/**
 * The caches an InferencePoolReconciler reads, filled by hand with the objects given (a snapshot, or a
 * copy that lags behind the apiserver), with the FleetView attached to them, as the controller wires its
 * informers; `pools` is typed as the reconciler takes it.
 */
export function handFilledCaches(objects: { nodes?: KubeObject[]; providerNodes?: Array<ProviderNode & KubeObject>; pods?: KubeObject[]; pools?: InferencePool[] }) {
  const pods = new Store<KubeObject>();
  const pools = new Store<InferencePool & KubeObject>();
  const nodes = new Store<KubeObject>();
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const view = new FleetView({ gpuResourceName: TEST_CONFIG.gpuResourceName, logger: silentLogger() });
  view.attach(providerNodes, nodes, pods);
  for (const n of objects.nodes ?? []) nodes.put(n);
  for (const pn of objects.providerNodes ?? []) providerNodes.put(pn);
  for (const p of objects.pods ?? []) pods.put(p);
  for (const p of objects.pools ?? []) pools.put(p as InferencePool & KubeObject);
  return { pods, nodes, providerNodes, view, pools: pools as unknown as Informer<InferencePool & KubeObject> };
}
