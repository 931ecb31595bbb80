// A KubeClient that records the ProviderNode controller's status applies (accepted or refused with 409)
// and its reads, so a test can say which of them a reconcile made.
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { isConflict } from '../../operator/src/kube/rest.js';

/** `afterRead` runs after each read returns, before its caller sees it (another writer that lands just then). */
export function countingClient(client: KubeClient, afterRead?: () => Promise<void>): { client: KubeClient; calls: string[] } {
  const calls: string[] = [];
  const spy = Object.create(client) as KubeClient;
  spy.applyStatus = (async (...args: Parameters<KubeClient['applyStatus']>) => {
    try {
      const written = await client.applyStatus(...args);
      calls.push(`apply ${args[0].kind} status`);
      return written;
    } catch (err) {
      calls.push(`apply ${args[0].kind} status: ${isConflict(err) ? '409' : 'failed'}`);
      throw err;
    }
  }) as KubeClient['applyStatus'];
  spy.get = (async (...args: Parameters<KubeClient['get']>) => {
    calls.push(`get ${args[0].kind}`);
    const read = await client.get(...args);
    await afterRead?.();
    return read;
  }) as KubeClient['get'];
  return { client: spy, calls };
}
