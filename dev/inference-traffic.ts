// Real inference traffic for `chrysalis demo --in-cluster`: chat completions sent, one at a time, to the
// Ready replica of an InferencePool on the real node, each over a connection the client verified first
// (cli/src/client: the replica's RA-TLS evidence against the AttestationPolicy its host is verified
// under), exactly as `chrysalis chat` does. The host has no route to Pod IPs, so the connection goes
// through a relay in the node's network namespace (RealNode.relayToPod). What the replicas answered is
// tallied from the usage the client received: with the default token prices and a price coefficient of
// 1000, the units the sidecar meters for these requests are these tokens, one for one.
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { chatCompletion, connectAttested, ReplicaRefused, type AttestedConnection } from '../cli/src/client/index.js';
import type { AttestationPolicy } from '../operator/src/api/index.js';
import { parsePolicy } from '../operator/src/attestation/policy.js';
import { REPLICA_HTTPS_PORT } from '../operator/src/controllers/inferencepool/endpoint.js';
import { LABEL_POOL } from '../operator/src/marks.js';
import type { PodRelay, RealNode } from './cluster/real-node.js';
import { delay } from './cluster/managed-process.js';

export interface InferenceTrafficStats {
  /** Requests the replica answered with a completion and its usage. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Connections the client refused after checking the replica's evidence (nothing was sent). */
  refused: number;
  /** Requests that got no answer (no Ready replica yet, the replica unreachable or answering an error). */
  failed: number;
}

export interface InferenceTraffic {
  stats(): InferenceTrafficStats;
  /** Sends nothing more; the request in flight, if any, completes. */
  stop(): Promise<void>;
}

export interface InferenceTrafficOptions {
  kc: KubeConfig;
  node: RealNode;
  namespace: string;
  pool: string;
  /** spec.model.name of the pool: the model the requests name. */
  model: string;
  /** The AttestationPolicy the replica's host is verified under (cluster-scoped). */
  policyName: string;
  /** Pause between requests (default 2000 ms). */
  intervalMs?: number;
  maxTokens?: number;
  say: (line: string) => void;
}

const PROMPTS = [
  'Say hello to the data center.',
  'What does a confidential GPU protect?',
  'Count to five.',
  'Name a colour.',
  'Write one line about TON.',
];

export function startInferenceTraffic(o: InferenceTrafficOptions): InferenceTraffic {
  const core = o.kc.makeApiClient(CoreV1Api);
  const custom = o.kc.makeApiClient(CustomObjectsApi);
  const stats: InferenceTrafficStats = { requests: 0, promptTokens: 0, completionTokens: 0, refused: 0, failed: 0 };
  let stopped = false;
  let relay: (PodRelay & { podIP: string }) | undefined;
  let connection: AttestedConnection | undefined;
  let lastProblem = '';
  const problem = (text: string) => {
    // Said once per distinct problem: a replica still loading its model fails every request the same way.
    if (text !== lastProblem) o.say(`inference traffic: ${text}`);
    lastProblem = text;
  };

  const readyReplicaIP = async (): Promise<string | undefined> => {
    const pods = await core.listNamespacedPod({ namespace: o.namespace, labelSelector: `${LABEL_POOL}=${o.pool}` });
    const ready = pods.items.find((p) => p.spec?.nodeName === o.node.name && p.status?.podIP
      && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready?.status?.podIP;
  };

  const connectToReplica = async (): Promise<AttestedConnection | undefined> => {
    const podIP = await readyReplicaIP();
    if (!podIP) {
      problem(`no Ready replica of ${o.pool} on ${o.node.name} yet`);
      return undefined;
    }
    if (relay?.podIP !== podIP) {
      await relay?.stop();
      relay = { ...(await o.node.relayToPod(podIP, REPLICA_HTTPS_PORT)), podIP };
    }
    // Read each time: the policy is the cluster's, and a change to it applies to the next connection.
    const policy = (await custom.getClusterCustomObject({ group: 'chrysalis.dev', version: 'v1alpha1', plural: 'attestationpolicies', name: o.policyName })) as AttestationPolicy;
    const verifierPolicy = parsePolicy({ kind: 'AttestationPolicy', apiVersion: policy.apiVersion, spec: policy.spec });
    return connectAttested({ host: relay.host, port: relay.port, policy: verifierPolicy });
  };

  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      try {
        connection ??= await connectToReplica();
        if (connection) {
          const answer = await chatCompletion(connection, { model: o.model, prompt: PROMPTS[i % PROMPTS.length]!, maxTokens: o.maxTokens ?? 16 });
          if (answer.usage) {
            stats.requests++;
            stats.promptTokens += answer.usage.promptTokens;
            stats.completionTokens += answer.usage.completionTokens;
            if (stats.requests === 1) o.say(`inference traffic: the first verified answer from ${o.pool}: ${JSON.stringify(answer.content.slice(0, 60))}`);
          } else {
            stats.failed++;
            problem('an answer without usage');
          }
        } else {
          stats.failed++;
        }
      } catch (err) {
        connection?.close();
        connection = undefined;
        if (err instanceof ReplicaRefused) {
          stats.refused++;
          problem(`the replica was refused: ${err.message}`);
        } else {
          stats.failed++;
          problem(`no answer yet: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      await delay(o.intervalMs ?? 2000);
    }
  })();

  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopped = true;
      await loop;
      connection?.close();
      await relay?.stop();
    },
  };
}
