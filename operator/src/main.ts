// The operator process: wiring only. Parses flags, builds the manager (leader election, informers,
// health/metrics), registers each controller, and runs until SIGTERM or lost leadership.
import { Command } from 'commander';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from './api/attestationpolicy.js';
import type { ProviderNode } from './api/providernode.js';
import { loadOperatorConfig } from './config.js';
import { AttestationPolicies, ProviderNodes } from './kube/chrysalis-resources.js';
import { loadKubeConfig } from './kube/kube-config.js';
import { Manager } from './kube/manager.js';
import { Nodes, Pods, type KubeObject } from './kube/resource.js';
import { providerNodeController } from './controllers/providernode/reconciler.js';
import { inferencePoolController } from './controllers/inferencepool/index.js';
import { settlementController } from './controllers/settlement/controller.js';
import { DEFAULT_SANDBOX_ROOT } from './settlement/keys.js';
import { componentLogger } from './util/log.js';
import { AttestationService } from './attestation/service/service.js';
import { verifyWithPolicy } from './attestation/service/bundle-verifier.js';
import { selfSignedTls, startHttpsServer, tlsFromFiles } from './attestation/service/https-server.js';
import { NO_FENCE } from './kube/leader-election.js';
import { UsageIngest } from './settlement/metering.js';

export interface OperatorFlags {
  kubeconfig?: string;
  config?: string;
  leaderElect: boolean;
  leaseNamespace: string;
  metricsPort: number;
  /** HTTPS port of the attestation service; 0 = disabled. */
  attestationPort: number;
  tlsCert?: string;
  tlsKey?: string;
  qps: number;
  burst: number;
  /** Where sandbox-network SettlementAccounts keep their chain state (default /var/lib/chrysalis/sandbox). */
  sandboxDir?: string;
}

/** Builds a manager with every controller registered; `run()` it to start. */
export function buildOperator(flags: OperatorFlags): Manager {
  const config = loadOperatorConfig(flags.config);
  const manager = new Manager({
    kubeConfig: loadKubeConfig({ kubeconfig: flags.kubeconfig }),
    leaderElection: flags.leaderElect ? { namespace: flags.leaseNamespace } : false,
    health: { port: flags.metricsPort },
    clientRateLimit: { qps: flags.qps, burst: flags.burst },
  });
  // The manager hands out one shared informer per resource, so the three controllers below watch each
  // of ProviderNodes, Nodes and Pods once. All Pods, not only replicas: placement must see every Pod
  // that takes GPUs on a node.
  const informers = {
    providerNodes: manager.informer<ProviderNode & KubeObject>(ProviderNodes),
    nodes: manager.informer<V1Node & KubeObject>(Nodes),
    pods: manager.informer<V1Pod & KubeObject>(Pods),
    policies: manager.informer<AttestationPolicy & KubeObject>(AttestationPolicies),
  };
  // (1) attestation state of each node, (2) replicas onto attested nodes, (3) usage settled on TON.
  providerNodeController(manager, config, informers);
  inferencePoolController({ manager, config });
  settlementController(manager, { chain: { sandboxRoot: flags.sandboxDir ?? DEFAULT_SANDBOX_ROOT, apiKey: process.env.CHRYSALIS_TONCENTER_API_KEY } });
  return manager;
}

/** The attestation service of this operator process, sharing the manager's client and fence. */
export async function startAttestationService(manager: Manager, flags: Pick<OperatorFlags, 'attestationPort' | 'tlsCert' | 'tlsKey' | 'config'>) {
  const config = loadOperatorConfig(flags.config);
  const fence = manager.elector ?? NO_FENCE;
  const ingest = new UsageIngest({ client: manager.client, rest: manager.rest, fence, events: manager.events });
  const service = new AttestationService({
    rest: manager.rest, fence, config, verify: verifyWithPolicy,
    usage: { ingest: (report) => ingest.ingest(report) },
    logger: componentLogger('attestation-service'),
  });
  const tls = flags.tlsCert && flags.tlsKey ? tlsFromFiles(flags.tlsCert, flags.tlsKey) : await selfSignedTls();
  const server = await startHttpsServer(service, tls, flags.attestationPort);
  return { service, server, tls };
}

export function operatorProgram(): Command {
  return new Command('chrysalis-operator')
    .description('The Chrysalis operator: attests GPU nodes, places replicas, settles usage on TON')
    .version('0.1.0')
    .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, then in-cluster)')
    .option('--config <path>', 'operator config YAML (see operator/src/config.ts)')
    .option('--leader-elect', 'run leader election (required with more than one replica)', false)
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', 'chrysalis-system')
    .option('--metrics-port <port>', 'port of /metrics /healthz /readyz', (v) => Number.parseInt(v, 10), 8080)
    .option('--attestation-port <port>', 'HTTPS port of the attestation service (0 disables it)', (v) => Number.parseInt(v, 10), 8443)
    .option('--tls-cert <file>', 'attestation service certificate (PEM); default: self-signed for development')
    .option('--tls-key <file>', 'attestation service private key (PEM)')
    .option('--qps <n>', 'client requests per second to the apiserver', (v) => Number.parseFloat(v), 50)
    .option('--burst <n>', 'client request burst', (v) => Number.parseInt(v, 10), 100)
    .option('--sandbox-dir <path>', 'state of SettlementAccounts on the sandbox network', DEFAULT_SANDBOX_ROOT);
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/operator\//, '/operator/'));
if (isMain) {
  const log = componentLogger('main');
  const program = operatorProgram();
  program.parse(process.argv);
  const flags = program.opts<OperatorFlags>();
  try {
    const manager = buildOperator(flags);
    manager.handleSignals();
    if (flags.attestationPort > 0) await startAttestationService(manager, flags);
    const exit = await manager.run();
    log.info('operator stopped', { exit });
    process.exit(exit === 'lost-leadership' ? 1 : 0);
  } catch (err) {
    log.error('operator failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(2);
  }
}
