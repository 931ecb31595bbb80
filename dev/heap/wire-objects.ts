// Objects shaped as the apiserver sends them to the operator's informers, for measuring what the caches
// keep of each (cache-heap.ts) and for tests that run the caches' readers on them: a kwok Node as the
// simulated fleet's nodes look once kwok has initialised them, its ProviderNode as the fleet fixtures
// write it, and a replica Pod as the pod builder makes it, with what the apiserver adds (defaults,
// server-set metadata, managedFields of its three writers) and the status kwok reports for it.
// Each builder returns a JSON text: parse it to get an object with strings of its own, as off the wire.
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { ANNOTATION_ATTESTATION_CA, FIELD_MANAGER, LABEL_ATTESTED, LABEL_GPU_MODEL, LABEL_PROVIDER_NODE, LABEL_TEE, READINESS_GATE_ATTESTED, SERVICE_FIELD_MANAGER } from '../../operator/src/marks.js';

const GPU = 'nvidia.com/gpu';
const T0 = '2026-12-04T10:00:00Z';
const T1 = '2026-12-04T10:00:07Z';

function uid(kind: number, i: number): string {
  const hex = (kind * 1_000_003 + i).toString(16).padStart(12, '0');
  return `6f1c2a3b-4d5e-4f60-8a7b-${hex}`;
}

/**
 * A managedFields entry's fieldsV1 for the fields of `obj`, as the apiserver records them: `f:<key>` per
 * field, `k:{"name":…}` per named list item (containers, env, volumes, ports), `.` for each map or item.
 */
export function fieldSetOf(obj: unknown): Record<string, unknown> {
  if (obj === null || typeof obj !== 'object') return {};
  if (Array.isArray(obj)) {
    const out: Record<string, unknown> = {};
    for (const item of obj) {
      const key = item && typeof item === 'object' && 'name' in item ? `k:${JSON.stringify({ name: (item as { name: string }).name })}`
        : item && typeof item === 'object' && 'type' in item ? `k:${JSON.stringify({ type: (item as { type: string }).type })}`
        : item && typeof item === 'object' && 'containerPort' in item ? `k:${JSON.stringify({ containerPort: (item as { containerPort: number }).containerPort, protocol: 'TCP' })}`
        : `v:${JSON.stringify(item)}`;
      out[key] = { '.': {}, ...fieldSetOf(item) };
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[`f:${k}`] = v !== null && typeof v === 'object' ? fieldSetOf(v) : {};
  return out;
}

function managed(manager: string, operation: 'Update' | 'Apply', fields: unknown, subresource?: string) {
  return { manager, operation, apiVersion: 'v1', time: T1, fieldsType: 'FieldsV1', fieldsV1: fieldSetOf(fields), ...(subresource ? { subresource } : {}) };
}

export function nodeName(i: number): string {
  return `kwok-gpu-${String(i).padStart(5, '0')}`;
}

/**
 * A kwok Node of the simulated GPU fleet (test/inferencepool/kube-fixtures.ts createGpuFleet) after kwok's
 * node-initialize stage: conditions, addresses, daemonEndpoints, nodeInfo, capacity and allocatable with
 * GPUs; the labels the fleet and the ProviderNode controller put on it; managedFields of its creator,
 * kube-controller-manager, kwok and the operator.
 */
export function kwokNodeJson(i: number, gpus = 8): string {
  const name = nodeName(i);
  const labels = { type: 'kwok', 'kubernetes.io/hostname': name, [LABEL_TEE]: 'sev-snp', [LABEL_GPU_MODEL]: 'H100', [LABEL_ATTESTED]: 'true', [LABEL_PROVIDER_NODE]: name };
  const resources = { cpu: '1k', memory: '1Ti', pods: '1k', [GPU]: String(gpus) };
  const kwokVersion = 'kwok-v0.8.0';
  const conditions = [
    ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
    ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
    ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
    ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
    ['NetworkUnavailable', 'False', 'RouteCreated', 'RouteController created a route'],
  ].map(([type, status, reason, message]) => ({ lastHeartbeatTime: T1, lastTransitionTime: T0, message, reason, status, type }));
  const status = {
    addresses: [{ address: '127.0.0.1', type: 'InternalIP' }, { address: name, type: 'Hostname' }],
    allocatable: resources, capacity: resources, conditions,
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      architecture: 'amd64', bootID: '', containerRuntimeVersion: kwokVersion, kernelVersion: kwokVersion, kubeProxyVersion: kwokVersion,
      kubeletVersion: kwokVersion, machineID: '', operatingSystem: 'linux', osImage: '', systemUUID: '',
    },
    phase: 'Running',
  };
  const annotations = { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' };
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name, uid: uid(1, i), resourceVersion: String(100_000 + i), creationTimestamp: T0, labels, annotations,
      managedFields: [
        managed('chrysalis-test', 'Update', { metadata: { labels: { type: '', 'kubernetes.io/hostname': '' }, annotations: { 'kwok.x-k8s.io/node': '' } }, status: { allocatable: resources, capacity: resources } }),
        managed('kube-controller-manager', 'Update', { metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': '' } } }),
        managed('kwok', 'Update', { status: { addresses: status.addresses, conditions, daemonEndpoints: status.daemonEndpoints, nodeInfo: status.nodeInfo, phase: '' } }, 'status'),
        managed(FIELD_MANAGER, 'Apply', { metadata: { labels: { [LABEL_TEE]: '', [LABEL_GPU_MODEL]: '', [LABEL_ATTESTED]: '', [LABEL_PROVIDER_NODE]: '' } }, spec: { taints: [] } }),
      ],
    },
    spec: {},
    status,
  });
}

/** The Node's ProviderNode as the fleet fixtures create it: spec, and Attested/Quarantined set through status. */
export function providerNodeJson(i: number, gpus = 8): string {
  const name = nodeName(i);
  const conditions = [
    { type: 'Attested', status: 'True', reason: 'EvidenceVerified', message: 'set by the test', lastTransitionTime: T1 },
    { type: 'Quarantined', status: 'False', reason: 'NotQuarantined', message: 'set by the test', lastTransitionTime: T1 },
  ];
  const spec = {
    nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: gpus, ccMode: 'on' },
    payoutAddress: `0:${(i % 4).toString(16).padStart(64, 'a')}`, priceCoefficient: 1000,
  };
  return JSON.stringify({
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: {
      name, uid: uid(2, i), resourceVersion: String(200_000 + i), generation: 1, creationTimestamp: T0,
      managedFields: [
        { ...managed('chrysalis-test', 'Update', { spec }), apiVersion: 'chrysalis.dev/v1alpha1' },
        { ...managed('chrysalis-test', 'Update', { status: { conditions } }, 'status'), apiVersion: 'chrysalis.dev/v1alpha1' },
      ],
    },
    spec,
    status: { conditions },
  });
}

function benchPool(p: number): InferencePool {
  return {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name: `pool-${p}`, namespace: 'bench-ours-1', uid: uid(3, p) },
    spec: {
      model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'https://models.invalid/llama-3.1-8b-instruct.tar', hash: 'ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6' },
      runtime: { image: 'docker.io/vllm/vllm-openai@sha256:0f5e2a3c1d4b6e8f7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f', port: 8000 },
      replicas: { min: 8, max: 8 }, gpusPerReplica: p % 4 === 3 ? 2 : 1, gpuModels: ['H100'],
      settlementAccountRef: { name: 'sandbox' },
    },
  } as unknown as InferencePool;
}

/** A CA certificate's size, as the chart's attestation CA annotation carries it on every replica. */
const CA_PEM = `-----BEGIN CERTIFICATE-----\n${'MIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnJv\n'.repeat(16)}-----END CERTIFICATE-----\n`;

/**
 * Replica `r` (pool r/8, index r%8) as the apiserver has it once kwok runs it: the pod builder's Pod
 * with the apiserver's defaults and server-set metadata; status as kwok's pod-ready stage writes it
 * (phase Running, Initialized/Ready/ContainersReady and the readiness gate, container statuses, IPs,
 * startTime) with the gate set True by the attestation service; managedFields of the operator (create),
 * kwok (status) and the attestation service (the gate). `withCa`: the chart's attestation CA annotation.
 */
export function replicaPodJson(r: number, options: { withCa?: boolean; config?: OperatorConfig } = {}): string {
  const config = { ...(options.config ?? DEFAULT_CONFIG), ...(options.withCa ? { attestationCa: CA_PEM } : {}) };
  const pool = benchPool(Math.floor(r / 8));
  const built = buildReplicaPod({ pool, index: r % 8, tee: 'sev-snp', node: nodeName(Math.floor(r / 4)), config }) as {
    metadata: Record<string, unknown>; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>>; initContainers: Array<Record<string, unknown>> };
  };
  const created = JSON.parse(JSON.stringify(built)) as typeof built;
  const defaults = { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' };
  for (const c of [...created.spec.containers, ...created.spec.initContainers]) Object.assign(c, { ...defaults, ...c });
  Object.assign(created.spec, {
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', terminationGracePeriodSeconds: 30, serviceAccountName: 'default', serviceAccount: 'default',
    priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  });
  const conditions = [
    { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: T1 },
    { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: T1 },
    { type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: T1 },
    { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: T0 },
    { type: READINESS_GATE_ATTESTED, status: 'True', reason: 'Attested', message: 'evidence verified; attestation expires at 2026-12-04T11:00:07Z', lastProbeTime: null, lastTransitionTime: T1 },
  ];
  const running = (c: Record<string, unknown>) => ({ image: c.image, imageID: '', name: c.name, ready: true, restartCount: 0, started: true, state: { running: { startedAt: T1 } }, lastState: {} });
  const status = {
    phase: 'Running', conditions, hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }],
    podIP: `10.${(r >> 16) & 255}.${(r >> 8) & 255}.${r & 255}`, podIPs: [{ ip: `10.${(r >> 16) & 255}.${(r >> 8) & 255}.${r & 255}` }],
    startTime: T1, qosClass: 'BestEffort',
    initContainerStatuses: created.spec.initContainers.map((c) => ({ image: c.image, imageID: '', name: c.name, ready: true, restartCount: 0, started: false,
      state: { terminated: { exitCode: 0, reason: 'Completed', message: 'model hash ab330bc0c4fe85bd289fbb0a47a11a5f1346f456bc4615e02f081dfb973f5ad6 verified', startedAt: T1, finishedAt: T1 } }, lastState: {} })),
    containerStatuses: created.spec.containers.map(running),
  };
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      ...created.metadata, uid: uid(4, r), resourceVersion: String(300_000 + r), generation: 1, creationTimestamp: T0,
      managedFields: [
        managed(FIELD_MANAGER, 'Update', { metadata: created.metadata, spec: created.spec }),
        managed('kwok', 'Update', { status: { ...status, conditions: conditions.slice(0, 4) } }, 'status'),
        managed(SERVICE_FIELD_MANAGER, 'Update', { status: { conditions: [conditions[4]] } }, 'status'),
      ],
    },
    spec: created.spec,
    status,
  });
}

export { ANNOTATION_ATTESTATION_CA, GPU };
