// Pods on the real node, for the real-node tests: create one pinned to the node, wait for a phase, read
// its log through the apiserver (which asks the node's kubelet).
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { delay } from '../../dev/cluster/managed-process.js';

/** A namespace whose default ServiceAccount exists (Pods are refused until the controller made it). */
export async function createNamespace(kc: KubeConfig, name: string, timeoutMs = 60_000): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true, () => false)) return;
    await delay(200);
  }
  throw new Error(`namespace ${name}: no default ServiceAccount within ${timeoutMs} ms (is kube-controller-manager running?)`);
}

export async function createPod(kc: KubeConfig, namespace: string, pod: V1Pod): Promise<V1Pod> {
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace, body: pod });
}

/** Polls until the Pod reaches one of the phases; throws with its status (and events) if it does not in time. */
export async function waitForPhase(kc: KubeConfig, namespace: string, name: string, phases: string[], timeoutMs = 180_000): Promise<V1Pod> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let pod: V1Pod | undefined;
  while (Date.now() < deadline) {
    pod = await core.readNamespacedPod({ name, namespace });
    if (phases.includes(pod.status?.phase ?? '')) return pod;
    await delay(500);
  }
  const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  throw new Error(`Pod ${namespace}/${name} not ${phases.join('/')} within ${timeoutMs} ms: ${JSON.stringify(pod?.status)}\n`
    + events.items.map((e) => `${e.reason}: ${e.message}`).join('\n'));
}

/** The container's log as the kubelet serves it, once it contains `expected` (logs may lag the phase). */
export async function logContaining(kc: KubeConfig, namespace: string, name: string, expected: string, timeoutMs = 60_000): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let log = '';
  while (Date.now() < deadline) {
    log = await core.readNamespacedPodLog({ name, namespace });
    if (log.includes(expected)) return log;
    await delay(500);
  }
  return log;
}
