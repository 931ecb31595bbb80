// A real Kubernetes control plane as local processes on 127.0.0.1: etcd, kube-apiserver (secure port,
// client-certificate auth, RBAC, service-account keys), kube-controller-manager, kube-scheduler and kwok
// (simulated kubelets for GPU nodes). Used by the test runner, the benchmarks and `chrysalis demo`.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { controlPlaneBinaries } from './binaries.js';
import { ManagedProcess, delay } from './managed-process.js';
import { createPki, type ControlPlanePki } from './pki.js';
import { freePort } from './ports.js';
import { writeKubeconfig } from './kubeconfig.js';

export interface ControlPlaneOptions {
  /** Start kube-controller-manager (default true). */
  controllerManager?: boolean;
  /** Start kube-scheduler (default true). */
  scheduler?: boolean;
  /** Start kwok (default true). */
  kwok?: boolean;
  /** Client QPS/burst for kube-scheduler (benchmarks give it the operator's budget). */
  schedulerClient?: { qps: number; burst: number };
  /** Extra kube-apiserver flags, e.g. lifting inflight limits for a benchmark. */
  apiserverArgs?: string[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly binDir: string;
  readonly pki: ControlPlanePki;
  kubeConfig(): KubeConfig;
  /** Stop and start kube-apiserver on the same port (etcd keeps the data). */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  /** Pid of each component, for tests and for `chrysalis demo` to report. */
  pids(): Record<string, number | undefined>;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
/** kwok's simulated nodes' Lease duration (they renew every quarter of it), and how long kube-controller-manager waits for a renewal. */
const KWOK_NODE_LEASE_SECONDS = 240;
const NODE_MONITOR_GRACE_SECONDS = 300;
/**
 * How many Pod stage plays (a Pod made Running and Ready, completed, deleted) kwok runs at once; its
 * default is 4. Each play is a Pod status patch, and with kube-apiserver busy answering in hundreds of
 * milliseconds four at a time came to a dozen Pods a second: in the chaos bench at 2,000 nodes, 14
 * minutes into placement, 326 replicas were still Pending and 680 Running but not Ready, all attested,
 * with kwok itself at 5% of a core. A real fleet has a kubelet per node, all at once.
 */
const KWOK_POD_PLAY_PARALLELISM = 32;
/**
 * How many simulated nodes' Lease renewals kwok runs at once; its default is 4. 2,000 nodes renew every 60 s
 * (KWOK_NODE_LEASE_SECONDS / 4), 33 a second, so four at a time fall behind once kube-apiserver answers in
 * more than 120 ms: in the chaos bench at 2,000 nodes and 4,000 replicas the renewals lagged past
 * NODE_MONITOR_GRACE_SECONDS five minutes in, kube-controller-manager marked 724 attested, running replicas
 * NotReady, and kwok, unlike a kubelet, never sets a Pod's Ready back. A real fleet has a kubelet per node.
 */
const KWOK_NODE_LEASE_PARALLELISM = 32;

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const { binDir, kwokStagesDir } = await controlPlaneBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'chrysalis-cp-'));
  await writeFile(join(dir, 'pids'), '');
  startReaper(dir);

  const processes: ManagedProcess[] = [];
  const bin = (name: string) => join(binDir, name);
  try {
    log('generating certificates');
    const pki = await createPki(dir);
    const [etcdClient, etcdPeer, apiPort, cmPort, schedPort, kwokPort] = await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeKubeconfig(kubeconfigPath, server, pki.caCert, 'chrysalis-admin', pki.admin);

    const etcd = new ManagedProcess('etcd', bin('etcd'), [
      '--name=local', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ], dir);
    processes.push(etcd);
    log('starting etcd');
    etcd.start();
    await waitFor('etcd', etcd, () => httpOk(`http://127.0.0.1:${etcdClient}/health`), 30_000);

    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      // How it authenticates to a real node's kubelet (logs, exec); kwok nodes do not ask.
      `--kubelet-client-certificate=${pki.admin.cert}`, `--kubelet-client-key=${pki.admin.key}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--api-audiences=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota,NodeRestriction',
      '--disable-admission-plugins=StorageObjectInUseProtection',
      ...(options.apiserverArgs ?? []),
    ];
    let apiserver = new ManagedProcess('kube-apiserver', bin('kube-apiserver'), apiserverArgs, dir);
    processes.push(apiserver);
    const startApiserver = async () => {
      log('starting kube-apiserver');
      apiserver.start();
      await waitFor('kube-apiserver', apiserver, () => httpsOk(`${server}/readyz`, pki), 90_000);
    };
    await startApiserver();

    const kubeconfigArgs = [`--kubeconfig=${kubeconfigPath}`, `--authentication-kubeconfig=${kubeconfigPath}`, `--authorization-kubeconfig=${kubeconfigPath}`];
    if (options.controllerManager ?? true) {
      const cm = new ManagedProcess('kube-controller-manager', bin('kube-controller-manager'), [
        ...kubeconfigArgs, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${cmPort}`,
        `--service-account-private-key-file=${pki.serviceAccountKey}`, `--root-ca-file=${pki.caCert}`,
        '--use-service-account-credentials=true', '--cluster-name=chrysalis-local',
        // kwok nodes have no real network: the node IPAM and route controllers have nothing to do.
        '--controllers=*,-nodeipam,-route,-cloud-node-lifecycle,-service-lb-controller',
        // A node is unreachable when its Lease is not renewed for this long. kwok renews its nodes' Leases
        // every quarter of their 240 s duration (below); kube-controller-manager's default of 50 s would
        // then flap them. See the kwok flags for why the Leases are long.
        `--node-monitor-grace-period=${NODE_MONITOR_GRACE_SECONDS}s`,
      ], dir);
      processes.push(cm);
      log('starting kube-controller-manager');
      cm.start();
    }
    if (options.scheduler ?? true) {
      const schedulerArgs = [...kubeconfigArgs, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${schedPort}`];
      if (options.schedulerClient) {
        const configPath = join(dir, 'scheduler-config.yaml');
        await writeFile(configPath, [
          'apiVersion: kubescheduler.config.k8s.io/v1',
          'kind: KubeSchedulerConfiguration',
          'leaderElection: {leaderElect: false}',
          `clientConnection: {kubeconfig: ${JSON.stringify(kubeconfigPath)}, qps: ${options.schedulerClient.qps}, burst: ${options.schedulerClient.burst}}`,
          '',
        ].join('\n'));
        schedulerArgs.splice(0, 1, `--config=${configPath}`);
        schedulerArgs.splice(schedulerArgs.indexOf('--leader-elect=false'), 1);
      }
      const scheduler = new ManagedProcess('kube-scheduler', bin('kube-scheduler'), schedulerArgs, dir);
      processes.push(scheduler);
      log('starting kube-scheduler');
      scheduler.start();
    }
    if (options.kwok ?? true) {
      const stages = (await readdir(kwokStagesDir)).filter((f) => f.endsWith('.yaml')).map((f) => `--config=${join(kwokStagesDir, f)}`);
      const kwokConfigPath = join(dir, 'kwok-configuration.yaml');
      await writeFile(kwokConfigPath, [
        'apiVersion: config.kwok.x-k8s.io/v1alpha1',
        'kind: KwokConfiguration',
        'options:',
        `  podPlayStageParallelism: ${KWOK_POD_PLAY_PARALLELISM}`,
        `  nodeLeaseParallelism: ${KWOK_NODE_LEASE_PARALLELISM}`,
        // The rest are kwok's own defaults, written out: kwok applies them only when no KwokConfiguration is
        // given, and one that leaves them out runs with zeros (parallelism 0 is refused, an empty cidr gives
        // every Pod the node's IP).
        '  nodePlayStageParallelism: 4',
        '  podsOnNodeSyncParallelism: 1',
        '  enablePodsOnNodeSyncListPager: true',
        '  enablePodsOnNodeSyncStreamWatch: false',
        '  cidr: 10.0.0.0/24',
        '  enableDebuggingHandlers: true',
        '  enableProfilingHandler: true',
      ].join('\n'));
      const kwok = new ManagedProcess('kwok', bin('kwok'), [
        // Only the simulated fleet's nodes (labelled type=kwok): a real node's kubelet owns its own status and Pods.
        `--kubeconfig=${kubeconfigPath}`, '--manage-nodes-with-label-selector=type=kwok', `--config=${kwokConfigPath}`, ...stages,
        // Each simulated node renews its Lease every quarter of this duration. With a kubelet's 40 s, 1,000
        // nodes made 97 Lease writes a second, the apiserver's most frequent request on these 2 cores
        // (chaos bench, 1,000 nodes); once it was saturated the renewals came late, the node lifecycle
        // controller marked the nodes' Pods NotReady, and kwok, unlike a kubelet, never sets a Pod's
        // Ready back. The simulated fleet's heartbeat is not what any test or bench measures.
        `--server-address=127.0.0.1:${kwokPort}`, '--node-ip=127.0.0.1', `--node-lease-duration-seconds=${KWOK_NODE_LEASE_SECONDS}`,
      ], dir);
      processes.push(kwok);
      log('starting kwok');
      kwok.start();
    }
    for (const p of processes) {
      await delay(0);
      if (!p.running) throw new Error(`${p.name} exited at start:\n${p.tail()}`);
    }

    const controlPlane: ControlPlane = {
      dir, kubeconfigPath, server, binDir, pki,
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      async stopApiserver() {
        await apiserver.stop();
      },
      async startApiserver() {
        apiserver = new ManagedProcess('kube-apiserver', bin('kube-apiserver'), apiserverArgs, dir);
        processes[1] = apiserver;
        await startApiserver();
      },
      pids() {
        return Object.fromEntries(processes.map((p) => [p.name, p.pid]));
      },
      async stop() {
        for (const p of [...processes].reverse()) await p.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
    log(`control plane ready at ${server}`);
    return controlPlane;
  } catch (err) {
    for (const p of [...processes].reverse()) await p.stop(1000);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function startReaper(dir: string): void {
  const reaper = spawn(process.execPath, [join(here, 'reaper.mjs'), String(process.pid), dir], { detached: true, stdio: 'ignore' });
  reaper.unref();
}

async function waitFor(name: string, proc: ManagedProcess, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${name} exited before it was ready; last log lines:\n${proc.tail()}`);
    if (await check()) return;
    await delay(200);
  }
  throw new Error(`${name} not ready within ${timeoutMs} ms; last log lines:\n${proc.tail()}`);
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    return res.ok;
  } catch {
    return false;
  }
}

function httpsOk(url: string, pki: ControlPlanePki): Promise<boolean> {
  return new Promise((resolveOk) => {
    const req = request(url, {
      ca: readFileSync(pki.caCert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key), timeout: 2000,
    }, (res) => {
      res.resume();
      resolveOk(res.statusCode === 200);
    });
    req.on('error', () => resolveOk(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

