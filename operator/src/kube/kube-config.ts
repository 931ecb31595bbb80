// Where the operator's cluster credentials come from, in this order: an explicit --kubeconfig path,
// $KUBECONFIG, the in-cluster ServiceAccount (when running as a Pod), ~/.kube/config. Nothing found is
// an error that names the options, never a silent guess.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigSource {
  /** --kubeconfig */
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const env = source.env ?? process.env;
  const kc = new KubeConfig();
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`--kubeconfig ${source.kubeconfig}: no such file`);
    kc.loadFromFile(source.kubeconfig);
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(':').filter(Boolean);
    for (const file of files) {
      if (!existsSync(file)) throw new Error(`KUBECONFIG names ${file}, which does not exist`);
    }
    // One file (the common case) is loaded directly; several are merged the way kubectl merges them.
    if (files.length === 1) kc.loadFromFile(files[0]!);
    else kc.loadFromDefault();
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
  } else if (existsSync(join(homedir(), '.kube', 'config'))) {
    kc.loadFromFile(join(homedir(), '.kube', 'config'));
  } else {
    throw new Error('no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, run in a Pod, or create ~/.kube/config');
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current context/cluster; set current-context');
  return kc;
}

/** Client-side rate limit on API requests; benchmarks give kube-scheduler the same budget. */
export interface ClientRateLimit {
  qps: number;
  burst: number;
}

export const DEFAULT_CLIENT_RATE_LIMIT: ClientRateLimit = { qps: 50, burst: 100 };
