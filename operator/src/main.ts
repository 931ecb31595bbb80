// The operator process: wiring only. Parses flags, builds the manager (leader election, informers,
// health/metrics), registers each controller, and runs until SIGTERM or lost leadership.
// `--components` picks what this process runs: the controllers, the attestation service, or both (the
// default, as the demo and tests run it). The chart runs them apart, each as its own ServiceAccount, so
// the network-facing service holds none of the controllers' permissions (operator/src/rbac/permissions.ts).
import { Command, InvalidArgumentError } from 'commander';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from './api/attestationpolicy.js';
import type { ProviderNode } from './api/providernode.js';
import { loadOperatorConfig } from './config.js';
import { AttestationPolicies, InferencePools, ProviderNodes, SettlementAccounts } from './kube/chrysalis-resources.js';
import type { InferencePool } from './api/inferencepool.js';
import type { SettlementAccount } from './api/settlementaccount.js';
import { loadKubeConfig } from './kube/kube-config.js';
import { Manager } from './kube/manager.js';
import { Nodes, Pods, type KubeObject } from './kube/resource.js';
import { providerNodeController } from './controllers/providernode/controller.js';
import { inferencePoolController } from './controllers/inferencepool/controller.js';
import { settlementController } from './controllers/settlementaccount/controller.js';
import { DEFAULT_SANDBOX_ROOT } from './settlement/keys.js';
import { componentLogger } from './util/log.js';
import { AttestationService, type EvidenceVerifier } from './attestation/service/service.js';
import { verifierWithCollateral } from './attestation/service/bundle-verifier.js';
import { HostWrites } from './attestation/service/host-writes.js';
import { ProviderNodeReads } from './attestation/service/provider-node-reads.js';
import { RecentPods } from './attestation/service/recent-pods.js';
import { collateralSources } from './attestation/collateral/from-config.js';
import { selfSignedTls, startHttpsServer, tlsFromFiles } from './attestation/service/https-server.js';
import { NO_FENCE } from './kube/leader-election.js';
import { KubeClient } from './kube/kube-client.js';
import { EventRecorder } from './kube/events.js';
import { UsageIngest, type PodLike } from './settlement/metering.js';

/** What one operator process runs. */
export type OperatorComponent = 'controllers' | 'attestation-service';
export const OPERATOR_COMPONENTS: readonly OperatorComponent[] = ['controllers', 'attestation-service'];

/**
 * The controllers' Lease: one replica runs them. The attestation service takes no Lease: every replica
 * serves (see startAttestationService).
 */
export const CONTROLLERS_LEASE_NAME = 'chrysalis-operator';

/** `--components controllers,attestation-service`: a non-empty list of known components. */
export function parseComponents(value: string): OperatorComponent[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((c) => !(OPERATOR_COMPONENTS as readonly string[]).includes(c));
  if (items.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`--components: ${unknown.length ? `unknown ${unknown.map((c) => `"${c}"`).join(', ')}` : 'empty'}; use a comma-separated list of ${OPERATOR_COMPONENTS.join(', ')}`);
  }
  return [...new Set(items)] as OperatorComponent[];
}

/**
 * A numeric flag's parser: a finite number from `min` (default 1) to `max`, a whole one where `whole`;
 * anything else stops the process with the flag and the range named, instead of running with NaN.
 */
export function numberFlag(flag: string, options: { whole?: boolean; min?: number; max: number }): (value: string) => number {
  const min = options.min ?? 1;
  return (value) => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(n) || (options.whole && !Number.isInteger(n)) || n < min || n > options.max) {
      throw new InvalidArgumentError(`${flag} must be ${options.whole ? 'a whole number' : 'a number'} from ${min} to ${options.max} (got ${JSON.stringify(value)})`);
    }
    return n;
  };
}

export interface OperatorFlags {
  /** What this process runs (default: both). */
  components?: OperatorComponent[];
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
  /** `namespace/name` of the node attesters' ServiceAccount; overrides the config file's attesterServiceAccount. */
  attesterServiceAccount?: string;
}

/** Whether this process runs the controllers (`--components`, default: every component). */
function runsControllers(flags: Pick<OperatorFlags, 'components'>): boolean {
  return (flags.components ?? OPERATOR_COMPONENTS).includes('controllers');
}

/**
 * Builds a manager, with every controller registered when this process runs the controllers; `run()` it
 * to start. A process that runs only the attestation service takes no Lease and registers no controller;
 * startAttestationService adds the informers the service reads.
 */
export function buildOperator(flags: OperatorFlags): Manager {
  const config = loadOperatorConfig(flags.config);
  const withControllers = runsControllers(flags);
  const manager = new Manager({
    kubeConfig: loadKubeConfig({ kubeconfig: flags.kubeconfig }),
    leaderElection: flags.leaderElect && withControllers ? { namespace: flags.leaseNamespace, name: CONTROLLERS_LEASE_NAME } : false,
    health: { port: flags.metricsPort },
    clientRateLimit: { qps: flags.qps, burst: flags.burst },
  });
  if (!withControllers) return manager;
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
export async function startAttestationService(manager: Manager, flags: Pick<OperatorFlags, 'attestationPort' | 'tlsCert' | 'tlsKey' | 'config' | 'attesterServiceAccount' | 'components'>, replace: { verify?: EvidenceVerifier } = {}) {
  const config = loadOperatorConfig(flags.config, { attesterServiceAccount: flags.attesterServiceAccount });
  // Every replica serves, leader or not: each request is decided by a write conditioned on the
  // resourceVersion it read (a nonce is consumed by one answer, a usage fold lands once), so two replicas
  // are no different from two concurrent requests on one, and a leader fence would only turn away the
  // attesters the Service sends to a standby. Its writes go through a KubeClient of their own, unfenced.
  const fence = NO_FENCE;
  const client = new KubeClient(manager.rest, fence);
  const events = new EventRecorder({ client: manager.rest, fence, instance: manager.identity, metrics: manager.metrics, logger: componentLogger('events') });
  // What the service and metering decide on is read from the manager's shared informers (started by
  // manager.run(), also when this process runs only the service), and from the apiserver where a cached
  // copy cannot answer for sure (provider-node-reads.ts, replica-reads.ts): every decision is a write
  // conditioned on what it read. Pods are cached only where the process also runs the controllers (their
  // cache of every Pod): the service alone may get a Pod by name, never list or watch them (permissions.ts),
  // and uses a read of the last seconds for challenges and evidence (recent-pods.ts).
  // Metering's and the service's writes to one host's status take turns (host-writes.ts).
  const providerNodeCache = manager.informer<ProviderNode & KubeObject>(ProviderNodes);
  const providerNodeReads = new ProviderNodeReads({ rest: manager.rest, cache: providerNodeCache, metrics: manager.metrics });
  const replicaCaches = {
    ...(runsControllers(flags) ? { pods: manager.informer<KubeObject>(Pods) } : { recentPods: new RecentPods() }),
    pools: manager.informer<InferencePool & KubeObject>(InferencePools),
  };
  const hostWrites = new HostWrites();
  const ingest = new UsageIngest({
    client, events, hostWrites, providerNodes: providerNodeCache, providerNodeReads,
    settlementAccounts: manager.informer<SettlementAccount & KubeObject>(SettlementAccounts),
  });
  // TDX collateral from the configured PCS/PCCS (refreshed ahead of nextUpdate, also on use) and VCEKs from the KDS.
  const collateral = collateralSources(config.collateral, { registry: manager.metrics.registry, logger: componentLogger('collateral') });
  setInterval(() => void collateral.tdx.refreshDue(new Date()), 10 * 60 * 1000).unref();
  const service = new AttestationService({
    rest: manager.rest, fence, config, hostWrites, providerNodes: providerNodeReads, replicaCaches,
    policies: manager.informer<AttestationPolicy & KubeObject>(AttestationPolicies), verify: replace.verify ?? verifierWithCollateral(collateral),
    // The Pod as metering types it: client-node's V1Pod declares timestamps as Date, the wire has strings.
    usage: { ingest: (report, _now, read) => ingest.ingest(report, read && { pod: read.pod as PodLike, pool: read.pool }) },
    logger: componentLogger('attestation-service'), metrics: manager.metrics,
  });
  const tls = flags.tlsCert && flags.tlsKey ? tlsFromFiles(flags.tlsCert, flags.tlsKey) : await selfSignedTls();
  const server = await startHttpsServer(service, tls, flags.attestationPort);
  return { service, server, tls, collateral };
}

export function operatorProgram(): Command {
  return new Command('chrysalis-operator')
    .description('The Chrysalis operator: attests GPU nodes, places replicas, settles usage on TON')
    .version('0.1.0')
    .option('--components <list>', `what this process runs, comma-separated: ${OPERATOR_COMPONENTS.join(', ')}`, parseComponents, [...OPERATOR_COMPONENTS])
    .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, then in-cluster)')
    .option('--config <path>', 'operator config YAML (see operator/src/config.ts)')
    .option('--leader-elect', 'elect one replica to run the controllers (required with more than one replica; the attestation service needs none: every replica serves)', false)
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', 'chrysalis-system')
    .option('--metrics-port <port>', 'port of /metrics /healthz /readyz (0: any free port)', numberFlag('--metrics-port', { whole: true, min: 0, max: 65535 }), 8080)
    .option('--attestation-port <port>', 'HTTPS port of the attestation service (0 disables it)', numberFlag('--attestation-port', { whole: true, min: 0, max: 65535 }), 8443)
    .option('--tls-cert <file>', 'attestation service certificate (PEM); default: self-signed for development')
    .option('--tls-key <file>', 'attestation service private key (PEM)')
    .option('--attester-service-account <namespace/name>', 'the node attesters\' ServiceAccount: the only identity whose node challenges and evidence are accepted (default: config attesterServiceAccount, chrysalis-system/chrysalis-attester)')
    .option('--qps <n>', 'client requests per second to the apiserver', numberFlag('--qps', { min: 0.1, max: 100_000 }), 50)
    .option('--burst <n>', 'client request burst', numberFlag('--burst', { whole: true, max: 100_000 }), 100)
    .option('--sandbox-dir <path>', 'state of SettlementAccounts on the sandbox network', DEFAULT_SANDBOX_ROOT);
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/operator\//, '/operator/'));
if (isMain) {
  const log = componentLogger('main');
  const program = operatorProgram();
  program.parse(process.argv);
  const flags = program.opts<OperatorFlags>();
  const serves = flags.components!.includes('attestation-service') && flags.attestationPort > 0;
  if (!flags.components!.includes('controllers') && !serves) {
    log.error('nothing to run: --components attestation-service needs --attestation-port above 0');
    process.exit(2);
  }
  try {
    const manager = buildOperator(flags);
    manager.handleSignals();
    if (serves) await startAttestationService(manager, flags);
    const exit = await manager.run();
    log.info('operator stopped', { exit });
    process.exit(exit === 'lost-leadership' ? 1 : 0);
  } catch (err) {
    log.error('operator failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(2);
  }
}
