// Builds the replica Pods an InferencePool owns. Pure: the same pool, index, TEE and config always give
// the same Pod, so the reconciler can compare and tests can read the result directly.
//
// What every replica carries and why:
//  - name `<pool>-<index>`: deterministic, so a create after a crash-restart answers AlreadyExists
//    instead of making a second Pod for the same replica;
//  - labels chrysalis.dev/pool and chrysalis.dev/replica: the reconciler finds its Pods by them;
//  - label chrysalis.dev/template-hash, the digest of the spec fields the Pod was built from
//    (template-hash.ts): a replica whose value is not the pool's current one is replaced (plan.ts);
//  - an ownerReference to the pool (controller, blockOwnerDeletion): deleting the pool lets the garbage
//    collector remove the replicas, and nothing else claims them;
//  - schedulerName from the config (`chrysalis`): kube-scheduler leaves the Pod alone, and the Pod says
//    which scheduler placed it;
//  - nodeName, the attested node the placement engine chose: the replica is created bound (one write,
//    never observable unbound; see the reconciler for why not create-then-Binding);
//  - readiness gate chrysalis.dev/attested: no traffic until the replica's own evidence passed;
//  - runtimeClassName and the sidecar's TEE access by the chosen node's TEE and topology (set at
//    creation, hence the node is chosen first; replica-tee-access.ts);
//  - the restricted Pod Security profile on every container, and no ServiceAccount token in the
//    inference server (it never talks to the Kubernetes API);
//  - the model check, an init container (the attester image, --mode model-check) that gets the model
//    (a claim mounted read-only, or an archive unpacked into the Pod's own volume), computes its hash and
//    fails on a mismatch with spec.model.hash, so the server starts only on the checked bytes, which it
//    mounts read-only at /model (operator/src/model/model-volume.ts);
//  - the server's arguments built from spec.runtime.server (vLLM by default), listening on 127.0.0.1
//    only (operator/src/model/server-args.ts);
//  - a readiness probe on the server's /health through the sidecar's plain-HTTP health port (kubelet
//    cannot reach loopback), so the replica is not Ready before its model is loaded (serverReadinessProbe).
import type { OperatorConfig } from '../../config.js';
import type { TeeType } from '../../placement/index.js';
import type { InferencePool } from '../../api/index.js';
import { API_VERSION } from '../../api/index.js';
import { ANNOTATION_ATTESTATION_CA, LABEL_POOL, LABEL_REPLICA, LABEL_TEE, LABEL_TEMPLATE_HASH, READINESS_GATE_ATTESTED } from '../../marks.js';
import { replicaTemplateHash } from './template-hash.js';
import type { KubeObject } from '../../kube/resource.js';
import { REPLICA_HTTPS_PORT, REPLICA_HTTPS_PORT_NAME } from './endpoint.js';
import { MODEL_CHECK_CONTAINER, replicaModel } from '../../model/model-volume.js';
import { needsSharedMemory, serverArgs, serverEnv, SHM_MOUNT, SHM_VOLUME } from '../../model/server-args.js';
import { replicaTeeAccess, type Topology } from './replica-tee-access.js';
// The audience the attestation service requires of the projected token the attester sidecar presents.
import { ATTESTATION_AUDIENCE } from '../../attestation/service/protocol.js';

/** Container names, so tests and the reconciler agree. */
export const SERVER_CONTAINER = 'server';
export const ATTESTER_CONTAINER = 'attester';
/**
 * The sidecar's plain-HTTP readiness port (attester --health-port): kubelet's probe asks it, not the
 * RA-TLS port, whose certificate Go's TLS client cannot parse (attester/src/gateway/health-endpoint.ts).
 */
export const REPLICA_HEALTH_PORT_NAME = 'health';
export const REPLICA_HEALTH_PORT = 8444;
/** Where the attester reads that token (its --token-file default). */
export const ATTESTATION_TOKEN_DIR = '/var/run/secrets/chrysalis';
/** A non-root uid/gid for both containers (the distroless `nonroot` user). */
export const REPLICA_UID = 65532;

/** Label values are at most 63 characters; the pool name is one. */
export const MAX_POOL_NAME_LENGTH = 63;

export function replicaPodName(poolName: string, index: number): string {
  return `${poolName}-${index}`;
}

/**
 * The replica index of a Pod named `<pool>-<index>`, or undefined when the name does not have that
 * shape (a Pod someone else labelled with our pool label).
 */
export function replicaIndexOf(poolName: string, podName: string): number | undefined {
  const prefix = `${poolName}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  if (!/^(0|[1-9][0-9]{0,5})$/.test(rest)) return undefined;
  return Number(rest);
}

export interface ReplicaPodInput {
  pool: InferencePool;
  index: number;
  /** The TEE type of the node the replica will be bound to. */
  tee: TeeType;
  /**
   * The node chosen for the replica: the Pod is created bound to it (spec.nodeName). Left out, the Pod
   * is created unbound and waits for a Binding (what tests of that path and the benchmark's
   * kube-scheduler baseline build).
   */
  node?: string;
  /** The chosen node's ProviderNode spec.topology (node-cvm when left out, as the CRD defaults it). */
  topology?: Topology;
  config: OperatorConfig;
}

/** GPUs one replica of the pool needs (the CRD defaults it to 1; a missing value means the same). */
export function gpusPerReplica(pool: InferencePool): number {
  return pool.spec.gpusPerReplica ?? 1;
}

const restrictedContainerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export function buildReplicaPod({ pool, index, tee, node, topology = 'node-cvm', config }: ReplicaPodInput): KubeObject {
  const name = pool.metadata.name;
  const namespace = pool.metadata.namespace;
  const uid = pool.metadata.uid;
  if (!name || !namespace || !uid) throw new Error('buildReplicaPod: the pool needs metadata.name, namespace and uid (read it from the API)');
  const gpus = gpusPerReplica(pool);
  const port = pool.spec.runtime.port ?? 8000;
  const teeAccess = replicaTeeAccess(tee, topology, config, gpus);
  const runtimeClassName = teeAccess.runtimeClassName;
  const model = replicaModel(pool);

  const attesterArgs = [
    '--mode', 'replica',
    '--service', config.attestationServiceUrl,
    '--gpus', String(gpus),
    // The RA-TLS endpoint clients verify the replica through (attester/src/gateway/); the Service's
    // target port is the container port named https.
    '--https-port', String(REPLICA_HTTPS_PORT),
    '--upstream-port', String(port),
    ...(probesServer(pool) ? ['--health-port', String(REPLICA_HEALTH_PORT)] : []),
  ];
  // The attestation service's CA (the chart's), projected from the Pod's own annotation: the CA's Secret
  // lives in the operator's namespace, which a Pod in the pool's namespace cannot mount.
  if (config.attestationCa) attesterArgs.push('--ca', `${ATTESTATION_TOKEN_DIR}/ca.crt`);
  if (config.replicaRenewSeconds !== undefined) attesterArgs.push('--reattest-interval', String(config.replicaRenewSeconds));
  // Where the CPU and GPU evidence come from, by TEE and topology (a simulated host included; the
  // policy must say allowSimulated for simulated evidence to pass, fail closed otherwise).
  attesterArgs.push(...teeAccess.attesterArgs);

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: replicaPodName(name, index),
      namespace,
      labels: { [LABEL_POOL]: name, [LABEL_REPLICA]: String(index), [LABEL_TEE]: tee, [LABEL_TEMPLATE_HASH]: replicaTemplateHash(pool) },
      ...(config.attestationCa ? { annotations: { [ANNOTATION_ATTESTATION_CA]: config.attestationCa } } : {}),
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'InferencePool', name, uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      schedulerName: config.schedulerName,
      ...(node ? { nodeName: node } : {}),
      ...(runtimeClassName ? { runtimeClassName } : {}),
      readinessGates: [{ conditionType: READINESS_GATE_ATTESTED }],
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: REPLICA_UID,
        runAsGroup: REPLICA_UID,
        fsGroup: REPLICA_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: [
        {
          name: MODEL_CHECK_CONTAINER,
          image: config.attesterImage,
          args: model.checkArgs,
          // The one-line report (both hashes on a mismatch) is what the InferencePool controller reads.
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          securityContext: restrictedContainerSecurity,
          volumeMounts: [model.checkMount, { name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      containers: [
        {
          name: SERVER_CONTAINER,
          image: pool.spec.runtime.image,
          args: serverArgs(pool),
          ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
          env: [
            { name: 'CHRYSALIS_MODEL_HASH', value: pool.spec.model.hash },
            { name: 'CHRYSALIS_MODEL_NAME', value: pool.spec.model.name },
            { name: 'CHRYSALIS_MODEL_SOURCE', value: pool.spec.model.source },
            ...serverEnv(pool),
            ...(pool.spec.runtime.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })),
          ],
          // Extended resources are requested through limits (requests default to them).
          resources: { limits: { [config.gpuResourceName]: String(gpus) } },
          securityContext: restrictedContainerSecurity,
          volumeMounts: [model.serverMount, { name: 'tmp', mountPath: '/tmp' }, ...(needsSharedMemory(pool) ? [SHM_MOUNT] : [])],
        },
        {
          name: ATTESTER_CONTAINER,
          image: config.attesterImage,
          args: attesterArgs,
          ports: [
            { name: REPLICA_HTTPS_PORT_NAME, containerPort: REPLICA_HTTPS_PORT, protocol: 'TCP' },
            ...(probesServer(pool) ? [{ name: REPLICA_HEALTH_PORT_NAME, containerPort: REPLICA_HEALTH_PORT, protocol: 'TCP' }] : []),
          ],
          ...serverReadinessProbe(pool),
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ...teeAccess.attesterEnv,
          ],
          securityContext: { ...restrictedContainerSecurity, ...teeAccess.attesterSecurity },
          volumeMounts: [
            { name: 'attestation-token', mountPath: ATTESTATION_TOKEN_DIR, readOnly: true },
            { name: 'tmp', mountPath: '/tmp' },
            ...teeAccess.attesterMounts,
          ],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: {} },
        model.volume,
        ...(needsSharedMemory(pool) ? [SHM_VOLUME] : []),
        {
          name: 'attestation-token',
          projected: {
            defaultMode: 0o444,
            sources: [
              { serviceAccountToken: { audience: ATTESTATION_AUDIENCE, expirationSeconds: 3600, path: 'token' } },
              ...(config.attestationCa
                ? [{ downwardAPI: { items: [{ path: 'ca.crt', fieldRef: { fieldPath: `metadata.annotations['${ANNOTATION_ATTESTATION_CA}']` } }] } }]
                : []),
            ],
          },
        },
        ...teeAccess.volumes,
      ],
    },
  };
}

/** vLLM (the default) and llama.cpp's server answer /health; a custom server's health path is unknown. */
function probesServer(pool: InferencePool): boolean {
  return (pool.spec.runtime.server ?? 'vllm') !== 'custom';
}

/**
 * Readiness of the inference server, probed through the sidecar: the server listens on 127.0.0.1 only
 * and kubelet probes go to the Pod IP, so they ask the sidecar's plain-HTTP health port, which asks the
 * server's /health on loopback and answers 503 until the server answers 200. Not the RA-TLS port: kubelet
 * probes with Go's TLS client, whose x509 parser refuses the RA-TLS certificate (its evidence extension's
 * OID has an arc above 2^31), so such a probe never passes. The Pod (and so the Service's endpoint) is not
 * Ready until the server is up: vLLM's OpenAI server and the engine answer /health once they serve,
 * llama.cpp's server answers 503 on it while it loads the model. A custom server gets no probe.
 */
function serverReadinessProbe(pool: InferencePool): { readinessProbe?: Record<string, unknown> } {
  if (!probesServer(pool)) return {};
  return { readinessProbe: { httpGet: { scheme: 'HTTP', port: REPLICA_HEALTH_PORT_NAME, path: '/health' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 } };
}
