// A cluster-local model mirror on the real node: the model's files from a ConfigMap, tarred by busybox and
// served over HTTP on port 8080 as /<archive>, the shape of source the model check fetches
// (spec.model.source http://<mirror>/<archive>). The files live in one ConfigMap, so they must stay under
// the apiserver's 1 MiB object limit (the tiny llama does). Also the files' tree digest and the model hash
// in Cocoon's format, as a platform team computes them for spec.model.hash.
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { modelHash } from '../../operator/src/model/model-hash.js';
import { treeDigest } from '../../operator/src/model/tree-digest.js';
import { delay } from '../cluster/managed-process.js';

export const MIRROR_PORT = 8080;

export interface ModelMirror {
  /** http://<Pod IP>:8080/<archive>: reachable from Pods on the node (not from the host). */
  url: string;
  podIP: string;
}

export interface ModelMirrorOptions {
  namespace: string;
  /** Names the ConfigMap and the Pod. */
  name: string;
  /** busybox present on the node (RealNode.busyboxImage). */
  busyboxImage: string;
  /** File name (relative, no directory) → contents. */
  files: Record<string, Buffer>;
  /** The archive's name in the URL; default model.tar. */
  archive?: string;
  timeoutMs?: number;
  /** The node to run on (the real node, where a plane also has kwok nodes whose Pods never run). */
  nodeName?: string;
}

/** Spec.model.hash for these files under name@revision (the model check computes the same from the bytes it fetched). */
export function modelHashOf(name: string, revision: string, files: Record<string, Buffer>): string {
  const root = treeDigest(Object.entries(files).map(([path, bytes]) => ({ path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })));
  return modelHash(name, revision, root);
}

export async function startModelMirror(kc: KubeConfig, options: ModelMirrorOptions): Promise<ModelMirror> {
  const { namespace, name } = options;
  const archive = options.archive ?? 'model.tar';
  for (const file of Object.keys(options.files)) {
    if (!/^[A-Za-z0-9._-]+$/.test(file)) throw new Error(`model mirror ${name}: file name "${file}" must be one plain path component`);
  }
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedConfigMap({ namespace, body: {
    metadata: { name },
    binaryData: Object.fromEntries(Object.entries(options.files).map(([file, bytes]) => [file, bytes.toString('base64')])),
  } });
  const pod: V1Pod = {
    metadata: { name, labels: { 'app.kubernetes.io/name': 'model-mirror', 'app.kubernetes.io/instance': name } },
    spec: {
      ...(options.nodeName ? { nodeName: options.nodeName } : {}),
      containers: [{
        name: 'httpd', image: options.busyboxImage, imagePullPolicy: 'Never',
        // ConfigMap files are symbolic links into a ..data directory: copied, so the tar holds regular files.
        command: ['/bin/busybox', 'sh', '-c', `mkdir -p /tmp/m /tmp/www && cp -L /data/* /tmp/m/ && busybox tar -cf /tmp/www/${archive} -C /tmp/m . && exec busybox httpd -f -p ${MIRROR_PORT} -h /tmp/www`],
        ports: [{ name: 'http', containerPort: MIRROR_PORT }],
        readinessProbe: { tcpSocket: { port: MIRROR_PORT }, periodSeconds: 1 },
        volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
      }],
      volumes: [{ name: 'data', configMap: { name } }],
    },
  };
  await core.createNamespacedPod({ namespace, body: pod });
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let last: V1Pod | undefined;
  while (Date.now() < deadline) {
    last = await core.readNamespacedPod({ name, namespace });
    const ready = last.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready && last.status?.podIP) return { url: `http://${last.status.podIP}:${MIRROR_PORT}/${archive}`, podIP: last.status.podIP };
    if (last.status?.phase === 'Failed') break;
    await delay(500);
  }
  throw new Error(`model mirror ${namespace}/${name} not Ready: ${JSON.stringify(last?.status)}`);
}
