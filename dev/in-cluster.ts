// Chrysalis installed as Pods, for `chrysalis demo --in-cluster`: the images built on this machine
// (scripts/build-images.sh), one real node beside the plane's kwok nodes (dev/cluster/real-node.ts) with a
// GPU and the simulated configfs-TSM, and `helm install` of charts/chrysalis onto it — the controllers and
// the attestation service as Pods on the real node under the chart's ServiceAccounts, and the attester
// DaemonSet attesting that node through the TSM device. The kwok fleet still gives scale: its simulated
// attesters (in the demo's process) reach the in-cluster attestation service through a NodePort relayed
// to a local port, with the chart's own CA.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SimulatedTee } from '../operator/src/attestation/simulated/index.js';
import { controlPlaneBinaries } from './cluster/binaries.js';
import type { ControlPlane } from './cluster/control-plane.js';
import { delay } from './cluster/managed-process.js';
import { packageRoot } from './cluster/package-root.js';
import { relayTcp, startRealNode, type RealNode } from './cluster/real-node.js';
import { payoutAddress } from './fleet/fleet.js';

const run = promisify(execFile);
/** The chart's release: its ServiceAccounts are chrysalis-operator, chrysalis-attestation, chrysalis-attester. */
export const RELEASE = 'chrysalis';
export const RELEASE_NAMESPACE = 'chrysalis-system';
const STATE_SECRET = 'chrysalis-simulated-root';

export interface InClusterStack {
  node: RealNode;
  /** https://127.0.0.1:<port>, relayed to the attestation Service's NodePort on the real node. */
  serviceUrl: string;
  /** The chart's attestation CA (PEM), read from its TLS Secret. */
  ca: string;
  /** With options.engineCpu: the engine-cpu image in the real node's containerd, pinned by digest (repository@sha256:…). */
  engineImage?: string;
  /** The controllers' Pods (Running), by name. */
  operatorPods(): Promise<string[]>;
  /**
   * The sandbox chain's state directory of the controllers' Pod (its emptyDir, on this machine's disk
   * under the real node's kubelet): the providers' claims use the same chain.
   */
  sandboxDir(): Promise<string>;
  stop(): Promise<void>;
}

export interface InClusterOptions {
  say: (line: string) => void;
  /** Namespaces holding SettlementAccounts (rbac.settlement.namespaces); created here before install. */
  settlementNamespaces: string[];
  /** GPUs of the real node (its advertised resource, its simulated GPUs, its ProviderNode); default 1. */
  gpus?: number;
  /**
   * Also import the engine-cpu image (llama.cpp on CPU) into the real node, for InferencePools whose
   * replicas run a real model there (engineImage). Default off.
   */
  engineCpu?: boolean;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await delay(1000);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export async function installInCluster(plane: ControlPlane, options: InClusterOptions): Promise<InClusterStack> {
  const { say } = options;
  const root = packageRoot(import.meta.url);
  const work = await mkdtemp(join(tmpdir(), 'chrysalis-in-cluster-'));
  const stops: Array<() => Promise<unknown>> = [async () => rm(work, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    say('building the operator and attester images here (scripts/build-images.sh; cached after the first run)…');
    await run('bash', [join(root, 'scripts', 'build-images.sh'), '--oci-dir', work], { maxBuffer: 64 * 1024 * 1024 }).catch((err: { stderr?: string }) => {
      throw new Error(`scripts/build-images.sh failed: ${(err.stderr ?? '').trim().split('\n').slice(-10).join('\n')}`);
    });
    // The real node's simulated TEE: its TSM device and the attester's simulated GPUs issue under one
    // root, which the chart's default policy trusts (values below; a test cluster only).
    const gpus = options.gpus ?? 1;
    const tee = SimulatedTee.create({ gpus });
    say(`starting a real node (containerd, kubelet, kube-proxy) with ${gpus === 1 ? 'one GPU' : `${gpus} GPUs`} and a simulated configfs-TSM…`);
    const node = await startRealNode(plane, { gpus, simulatedTee: tee, log: (l) => say(`  real node: ${l}`) });
    stops.push(() => node.stop());
    for (const image of ['operator', 'attester']) await node.importImage(join(work, `${image}.oci.tar`));
    let engineImage: string | undefined;
    if (options.engineCpu) {
      engineImage = (await node.importImagePinned(join(work, 'engine-cpu.oci.tar'))).find((n) => n.includes('/chrysalis-engine-cpu@'));
      if (!engineImage) throw new Error('the engine-cpu image was not imported into the real node');
    }

    const kc = plane.kubeConfig();
    const { CoreV1Api, AppsV1Api, CustomObjectsApi } = await import('@kubernetes/client-node');
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of [RELEASE_NAMESPACE, ...options.settlementNamespaces]) {
      await core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => { if (e.code !== 409) throw e; });
    }
    await core.createNamespacedSecret({ namespace: RELEASE_NAMESPACE, body: {
      metadata: { name: STATE_SECRET }, stringData: { 'state.json': JSON.stringify(tee.exportRoot()) },
    } });
    const values = join(work, 'values.json');
    const pinned = { 'kubernetes.io/hostname': node.name };
    await writeFile(values, JSON.stringify({
      operator: {
        replicaCount: 1, image: { registry: 'localhost', pullPolicy: 'Never' }, nodeSelector: pinned,
      },
      attestation: {
        replicaCount: 1,
        // The fleet's attesters reach it from this machine: a NodePort on the real node, relayed below.
        service: { type: 'NodePort' },
        tls: { generate: { ipAddresses: ['127.0.0.1'] } },
      },
      attester: {
        image: { registry: 'localhost', pullPolicy: 'Never' },
        tee: 'tsm', tsm: { hostPath: node.tsmPath },
        gpu: 'simulated', simulated: { gpus, stateSecret: STATE_SECRET },
      },
      defaultPolicy: { allowSimulated: true, trustedRoots: [tee.rootPem] },
      rbac: { settlement: { namespaces: options.settlementNamespaces } },
    }));
    say('helm install charts/chrysalis (operator, attestation service and attester as Pods on the real node)…');
    const { binDir } = await controlPlaneBinaries();
    const helm = (args: string[]) => run(join(binDir, 'helm'), [...args, '--kubeconfig', plane.kubeconfigPath], {
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, HELM_CACHE_HOME: join(work, 'helm', 'cache'), HELM_CONFIG_HOME: join(work, 'helm', 'config'), HELM_DATA_HOME: join(work, 'helm', 'data') },
    });
    await helm(['install', RELEASE, join(root, 'charts', 'chrysalis'), '-n', RELEASE_NAMESPACE, '-f', values]).catch((err: { stderr?: string }) => {
      throw new Error(`helm install failed: ${(err.stderr ?? '').trim()}`);
    });
    stops.push(() => helm(['uninstall', RELEASE, '-n', RELEASE_NAMESPACE, '--wait', '--timeout', '60s']));

    // The real node is a provider too: its attester Pod attests it through the TSM device.
    await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'providernodes', body: {
      apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: node.name },
      spec: { nodeName: node.name, tee: 'simulated', gpus: { model: 'H100', count: gpus, ccMode: 'on' }, payoutAddress: payoutAddress('real-node'), priceCoefficient: 1000 },
    } });

    const apps = kc.makeApiClient(AppsV1Api);
    for (const deployment of [`${RELEASE}-operator`, `${RELEASE}-attestation`]) {
      await until(`Deployment ${deployment} ready`, async () => {
        const d = await apps.readNamespacedDeployment({ name: deployment, namespace: RELEASE_NAMESPACE });
        return (d.status?.readyReplicas ?? 0) >= 1 ? d : undefined;
      }, 300_000);
    }
    const service = await core.readNamespacedService({ name: `${RELEASE}-attestation`, namespace: RELEASE_NAMESPACE });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    if (!nodePort) throw new Error(`Service ${RELEASE}-attestation has no nodePort`);
    const relay: Server = await relayTcp('127.0.0.1', node.nodeIP, nodePort);
    stops.push(() => new Promise<void>((r) => relay.close(() => r())));
    const secret = await core.readNamespacedSecret({ name: `${RELEASE}-attestation-tls`, namespace: RELEASE_NAMESPACE });
    const ca = Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString('utf8');

    const operatorPodList = async () => (await core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: 'app.kubernetes.io/component=operator' }))
      .items.filter((p) => p.status?.phase === 'Running');
    return {
      node,
      serviceUrl: `https://127.0.0.1:${(relay.address() as { port: number }).port}`,
      ca,
      ...(engineImage ? { engineImage } : {}),
      async operatorPods() {
        return (await operatorPodList()).map((p) => p.metadata!.name!).sort();
      },
      async sandboxDir() {
        const pod = (await operatorPodList())[0];
        if (!pod) throw new Error('no controllers Pod is running');
        return join(node.footprint.dir, 'kubelet', 'pods', pod.metadata!.uid!, 'volumes', 'kubernetes.io~empty-dir', 'sandbox');
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

