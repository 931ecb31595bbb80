// The CLI's way to the cluster: kubeconfig from --kubeconfig, $KUBECONFIG or ~/.kube/config (the
// operator's loader), the namespace from -n or the kubeconfig context, and read-only requests through the
// operator's RestClient. Anything that makes the cluster unusable — no kubeconfig, a server that does
// not answer, missing CRDs, forbidden — becomes one line with what to do, and exit code 2.
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../operator/src/kube/kube-config.js';
import { KubeApiError, RestClient } from '../../operator/src/kube/rest.js';
import { resourcePath, type KubeObject, type ResourceType } from '../../operator/src/kube/resource.js';
import { withProgress } from './views/progress.js';

/** A problem the user must fix before the command can run: printed as `error: <message>`, exit 2. */
export class UsageError extends Error {}

export interface GlobalFlags {
  kubeconfig?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

/** The options every cluster command understands, on the program so they work before or after the command. */
export function registerGlobalOptions(program: Command): void {
  program
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .option('-n, --namespace <name>', 'namespace of namespaced objects (default: the kubeconfig context\'s, else "default")')
    .option('-A, --all-namespaces', 'list namespaced objects across all namespaces');
}

export interface Cluster {
  readonly kc: KubeConfig;
  readonly server: string;
  /** -n, else the context's namespace, else "default". */
  readonly namespace: string;
  /** True with -A: list calls span every namespace. */
  readonly allNamespaces: boolean;
  get<T = KubeObject>(resource: ResourceType, name: string, namespace?: string): Promise<T>;
  /** Lists a resource; namespaced ones in `namespace` (the default one), or everywhere with -A. */
  list<T = KubeObject>(resource: ResourceType, options?: { labelSelector?: string; fieldSelector?: string; namespace?: string | null }): Promise<T[]>;
  close(): void;
}

export function connect(command: Command): Cluster {
  const flags = command.optsWithGlobals<GlobalFlags>();
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {});
  } catch (err) {
    throw new UsageError(`${(err as Error).message}`);
  }
  const server = kc.getCurrentCluster()?.server ?? '<none>';
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const namespace = flags.namespace ?? contextNamespace ?? 'default';
  const rest = new RestClient(kc, { userAgent: 'chrysalis-cli', timeoutMs: 15_000 });

  const call = async <T>(resource: ResourceType, path: string, name?: string, query?: Record<string, string | undefined>): Promise<T> => {
    // 429 (throttled, or storage of a just-installed CRD still initializing) and 503 are retried for
    // up to ~15 s, as kubectl does; everything else fails at once.
    for (let attempt = 0; ; attempt++) {
      try {
        return await withProgress('waiting for the cluster', rest.request<T>('GET', path, query ? { query } : {}));
      } catch (err) {
        if (err instanceof KubeApiError && (err.code === 429 || err.code === 503) && attempt < 15) {
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        throw explain(err, server, resource, name);
      }
    }
  };

  return {
    kc, server, namespace, allNamespaces: Boolean(flags.allNamespaces),
    get: (resource, name, ns) => call(resource, resourcePath(resource, resource.namespaced ? ns ?? namespace : undefined, name), name),
    list: async <T,>(resource: ResourceType, options: { labelSelector?: string; fieldSelector?: string; namespace?: string | null } = {}) => {
      const ns = !resource.namespaced ? undefined : options.namespace === null || flags.allNamespaces ? undefined : options.namespace ?? namespace;
      const list = await call<{ items?: T[] }>(resource, resourcePath(resource, ns), undefined, { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector });
      return list.items ?? [];
    },
    close: () => rest.close(),
  };
}

/** Turns a transport or API failure into the one line a user can act on. */
function explain(err: unknown, server: string, resource: ResourceType, name: string | undefined): Error {
  if (err instanceof KubeApiError) {
    if (err.code === 404 && name !== undefined && err.reason === 'NotFound' && /not found/.test(err.message)) {
      return new UsageError(`${resource.kind} "${name}" not found${resource.namespaced ? ' in this namespace (pass -n NAMESPACE)' : ''}`);
    }
    if (err.code === 404 && resource.group) {
      return new UsageError(`the ${resource.plural}.${resource.group} resource is not served by ${server}: install the Chrysalis CRDs (kubectl apply -f crds/)`);
    }
    if (err.code === 401) return new UsageError(`the cluster at ${server} refused the credentials (401 Unauthorized); check the kubeconfig's user`);
    if (err.code === 403) return new UsageError(`forbidden: ${err.message.replace(/^.*?: 403 Forbidden: /, '')} (ask for read access to chrysalis.dev resources)`);
    return err;
  }
  const e = err as NodeJS.ErrnoException;
  const detail = e.code ?? e.message ?? String(err);
  return new UsageError(`cannot reach the cluster at ${server}: ${detail} (set --kubeconfig or KUBECONFIG)`);
}
