// Shared pieces of the informer tests: an informer over ConfigMaps of one namespace that records
// every handler call, and the convergence check "the cache equals a fresh list from the server".
import type { ExecutionContext } from 'ava';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { Informer, type InformerOptions } from '../../operator/src/kube/informer.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { OperatorMetrics } from '../../operator/src/kube/metrics.js';
import { ConfigMaps, type KubeObject } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';

export interface Recorded {
  type: 'add' | 'update' | 'delete';
  name: string;
  data: Record<string, string> | undefined;
}

export function recordingInformer(kc: KubeConfig, namespace: string, options: Partial<InformerOptions> = {}) {
  const metrics = new OperatorMetrics();
  const rest = new RestClient(kc, { metrics });
  const informer = new Informer<KubeObject & { data?: Record<string, string> }>({
    client: rest, resource: ConfigMaps, namespace, metrics, backoff: { initialMs: 100, maxMs: 1000 }, ...options,
  });
  const seen: Recorded[] = [];
  informer
    .onAdd((o) => seen.push({ type: 'add', name: o.metadata!.name!, data: o.data }))
    .onUpdate((_old, o) => seen.push({ type: 'update', name: o.metadata!.name!, data: o.data }))
    .onDelete((o) => seen.push({ type: 'delete', name: o.metadata!.name!, data: o.data }));
  const restarts = async () => {
    const m = await metrics.watchRestarts.get();
    return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
  };
  return { informer, seen, metrics, restarts, close: async () => { await informer.stop(); rest.close(); } };
}

/** A client straight to the apiserver, no fence (the test is the only writer). */
export function directClient(kc: KubeConfig): KubeClient {
  return new KubeClient(new RestClient(kc), NO_FENCE);
}

export function configMap(namespace: string, name: string, data: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

/** name → resourceVersion of the server's ConfigMaps in `namespace`. */
export async function serverState(client: KubeClient, namespace: string): Promise<Record<string, string>> {
  const { items } = await client.list(ConfigMaps, { namespace });
  return Object.fromEntries(items.filter((i) => i.metadata?.name !== 'kube-root-ca.crt').map((i) => [i.metadata!.name!, i.metadata!.resourceVersion!]));
}

export function cacheState(informer: Informer<KubeObject>): Record<string, string> {
  return Object.fromEntries(informer.list().filter((i) => i.metadata?.name !== 'kube-root-ca.crt').map((i) => [i.metadata!.name!, i.metadata!.resourceVersion!]));
}

/** Waits until the cache equals a fresh list (names and resourceVersions), failing after `timeoutMs`. */
export async function assertConverges(t: ExecutionContext, client: KubeClient, informer: Informer<KubeObject>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let server: Record<string, string> = {};
  let cache: Record<string, string> = {};
  while (Date.now() < deadline) {
    server = await serverState(client, informer.namespace ?? '');
    cache = cacheState(informer);
    if (JSON.stringify(sorted(server)) === JSON.stringify(sorted(cache))) {
      t.deepEqual(sorted(cache), sorted(server));
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  t.deepEqual(sorted(cache), sorted(server), 'the cache did not converge to the server state');
}

function sorted(o: Record<string, string>): Array<[string, string]> {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
