// One real Kubernetes node beside the local control plane and the kwok fleet: containerd + runc + a CNI
// bridge + kubelet + kube-proxy, registered to the plane's apiserver with the Node authorizer's client
// certificate (system:node:<name>). It runs Pods for real.
//
// Everything network-facing lives in a network namespace the harness makes (`chrysalis-<id>`): containerd,
// kubelet and kube-proxy run inside it (nsenter --net only, so the host's mounts stay shared), the Pod
// bridge and every kube-proxy and CNI iptables rule are made in it, and each Pod's own namespace hangs off
// that bridge. One veth pair joins it to the host; the harness relays the apiserver's loopback port onto
// the host end, so nothing of the host's network, iptables or routes changes, and several nodes (other
// runs on the same machine) never see each other's names or rules. cgroups go under `/chrysalis-<id>` in
// every hierarchy. stop() removes all of it; realNodeLeftovers() lists anything that remains.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ControlPlane } from './control-plane.js';
import type { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { CLUSTER_DOMAIN, startClusterDns, type ClusterDns } from './cluster-dns.js';
import { ManagedProcess, delay } from './managed-process.js';
import { CNI_BIN_DIR, nodeBinaries, type NodeBinaries } from './node-binaries.js';
import { issueClientCert, type ClientCert } from './pki.js';
import { mountSimulatedTsm, type SimulatedTsm } from './simulated-tsm.js';

const run = promisify(execFile);
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/** Everything on the machine a node owns, named from its id; what cleanup removes and the leftover check looks for. */
export interface RealNodeFootprint {
  id: string;
  dir: string;
  /** The node's network namespace (under /var/run/netns). */
  netns: string;
  /** Host end of the veth pair into the node's namespace. */
  hostVeth: string;
  /** cgroup directory name under each hierarchy's root. */
  cgroup: string;
  /** The Pods' network namespaces (under /var/run/netns), as containerd recorded them; filled in by stop(). */
  podNetns: string[];
}

export interface RealNode {
  readonly name: string;
  readonly footprint: RealNodeFootprint;
  /** The node's InternalIP (its end of the veth pair). */
  readonly nodeIP: string;
  /** busybox-static from Debian, present on the node: for Pods with `imagePullPolicy: Never`. */
  readonly busyboxImage: string;
  /**
   * With options.simulatedTee: the node's simulated configfs-TSM (the chart's attester.tsm.hostPath; reports
   * under `<path>/report`).
   */
  readonly tsmPath?: string;
  /** Imports an OCI or Docker archive into the node's containerd (the CRI namespace); returns the image names. */
  importImage(archive: string): Promise<string[]>;
  /**
   * The same, returning each image pinned by digest (`repository@sha256:…`, what an InferencePool's
   * spec.runtime.image must be): the node's containerd resolves that reference to the imported image.
   */
  importImagePinned(archive: string): Promise<string[]>;
  /**
   * A TCP relay inside the node's network namespace, listening on the node's address (which the host
   * reaches over the node's veth) and forwarding to podIP:port: the host has no route to the Pod subnet.
   * Returns the address the host dials; stop() (or the node's stop) ends it.
   */
  relayToPod(podIP: string, port: number): Promise<PodRelay>;
  pids(): Record<string, number | undefined>;
  /** Stops everything and removes every process, mount, namespace, link, cgroup and file the node made. */
  stop(): Promise<void>;
}

export interface RealNodeOptions {
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /**
   * GPUs the node advertises: the label NVIDIA's GPU feature discovery sets (nvidia.com/gpu.present=true)
   * and the nvidia.com/gpu extended resource in the Node's status, written as a device plugin would.
   */
  gpus?: number;
  /** Mount a simulated configfs-TSM backed by this TEE on the node (tsmPath). */
  simulatedTee?: SimulatedTee;
}

export interface PodRelay {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Extended resource and label of a GPU node. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_PRESENT_LABEL = 'nvidia.com/gpu.present';

/** The Pods' subnet, private to the node's namespace (another node's namespace may reuse it). */
const POD_SUBNET = '10.244.0.0/24';
/** Bridge for the Pods, inside the node's namespace. */
const POD_BRIDGE = 'chrysalis0';
const CGROUP_ROOT = '/sys/fs/cgroup';
const NETNS_DIR = '/var/run/netns';

async function sh(command: string, args: string[]): Promise<string> {
  const { stdout } = await run(command, args, { env: { ...process.env, PATH }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function tryRun(command: string, args: string[]): Promise<boolean> {
  try {
    await sh(command, args);
    return true;
  } catch {
    return false;
  }
}

export async function startRealNode(plane: ControlPlane, options: RealNodeOptions = {}): Promise<RealNode> {
  const log = options.log ?? (() => {});
  const bins = await nodeBinaries();
  await sweepStaleNodes(log);
  const id = randomBytes(3).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), `chrysalis-node-${id}-`));
  const footprint: RealNodeFootprint = {
    id, dir, netns: `chrysalis-${id}`, hostVeth: `chrh-${id}`, cgroup: `chrysalis-${id}`, podNetns: [],
  };
  const name = `chrysalis-node-${id}`;
  await writeFile(join(dir, 'pids'), '');
  await writeFile(join(dir, 'owner'), String(process.pid));

  const processes: ManagedProcess[] = [];
  let relay: Server | undefined;
  let dns: ClusterDns | undefined;
  let tsm: SimulatedTsm | undefined;
  const relays = new Set<PodRelay>();
  const stopAll = async () => {
    for (const r of relays) await r.stop();
    await dns?.close();
    await teardown(footprint, processes, relay, log, tsm);
    await deleteNode(plane, name);
  };
  try {
    const { hostIP, nodeIP } = await makeNetwork(footprint);
    log(`node ${name}: namespace ${footprint.netns}, ${hostIP} (host) <-> ${nodeIP} (node)`);
    await makeCgroups(footprint.cgroup);

    const ca = { caCert: plane.pki.caCert, caKey: plane.pki.caKey };
    const pkiDir = join(dir, 'pki');
    await mkdir(pkiDir);
    const kubeletCert = await issueClientCert(pkiDir, ca, 'kubelet', `/O=system:nodes/CN=system:node:${name}`);
    const proxyCert = await issueClientCert(pkiDir, ca, 'kube-proxy', '/CN=system:kube-proxy');

    const apiserver = new URL(plane.server);
    relay = await relayTcp(hostIP, apiserver.hostname, Number(apiserver.port));
    const relayPort = (relay.address() as { port: number }).port;
    const server = `https://${hostIP}:${relayPort}`;
    const kubeletKubeconfig = join(dir, 'kubelet.kubeconfig');
    const proxyKubeconfig = join(dir, 'kube-proxy.kubeconfig');
    await writeNodeKubeconfig(kubeletKubeconfig, server, plane.pki.caCert, `system:node:${name}`, kubeletCert);
    await writeNodeKubeconfig(proxyKubeconfig, server, plane.pki.caCert, 'system:kube-proxy', proxyCert);

    const inNetns = (procName: string, command: string, args: string[]) =>
      new ManagedProcess(procName, 'nsenter', [`--net=${join(NETNS_DIR, footprint.netns)}`, '--', command, ...args], dir);

    const socket = join(dir, 'containerd.sock');
    const containerdConfig = await writeContainerdConfig(dir, socket, bins);
    const containerd = inNetns('containerd', 'containerd', ['--config', containerdConfig, '--log-level', 'warn']);
    processes.push(containerd);
    log('starting containerd');
    containerd.start();
    await until('containerd', containerd, () => tryRun('ctr', ['--address', socket, 'version']), 60_000);
    const ctr = (...args: string[]) => sh('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args]);
    await ctr('images', 'import', bins.busyboxArchive);

    await saveKernelTunables();
    if (options.simulatedTee) {
      tsm = await mountSimulatedTsm(join(dir, 'tsm'), options.simulatedTee);
      log(`simulated configfs-TSM at ${tsm.path}`);
    }
    dns = await startClusterDns(hostIP, plane.kubeConfig());
    const kubeletConfig = await writeKubeletConfig(dir, socket, plane.pki.caCert, footprint.cgroup, hostIP);
    const kubelet = inNetns('kubelet', bins.kubelet, [
      `--config=${kubeletConfig}`, `--kubeconfig=${kubeletKubeconfig}`, `--root-dir=${join(dir, 'kubelet')}`,
      `--hostname-override=${name}`, `--node-ip=${nodeIP}`, `--cert-dir=${join(dir, 'kubelet-pki')}`, '--v=1',
      ...(options.gpus ? [`--node-labels=${GPU_PRESENT_LABEL}=true`] : []),
    ]);
    processes.push(kubelet);
    log('starting kubelet');
    kubelet.start();
    const core = plane.kubeConfig();
    await until('kubelet', kubelet, () => nodeReady(core, name), 120_000);
    if (options.gpus) await advertiseGpus(plane, name, options.gpus);

    const proxyConfig = await writeKubeProxyConfig(dir, proxyKubeconfig, name);
    const kubeProxy = inNetns('kube-proxy', bins.kubeProxy, [`--config=${proxyConfig}`, '--v=1']);
    processes.push(kubeProxy);
    log('starting kube-proxy');
    kubeProxy.start();
    // kube-proxy is up once it has written its service chain into the node's namespace.
    await until('kube-proxy', kubeProxy,
      () => tryRun('ip', ['netns', 'exec', footprint.netns, 'iptables', '-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES']), 60_000);
    await publishApiserver(plane, footprint, hostIP, relayPort);
    log(`node ${name} ready`);

    return {
      name, footprint, nodeIP, busyboxImage: bins.busyboxImage, ...(tsm ? { tsmPath: tsm.path } : {}),
      async importImage(archive: string) {
        const out = await ctr('images', 'import', archive);
        return [...out.matchAll(/^unpacking (\S+) /gm)].map((m) => m[1]!);
      },
      async importImagePinned(archive: string) {
        const out = await ctr('images', 'import', archive);
        // `unpacking <name:tag> (sha256:<digest>)...done`: the digest of the image's manifest (or index).
        // containerd's CRI resolves `repository@digest` only to an image record of that name (a pull
        // makes one; an import does not), so the record is made here; otherwise kubelet tries a registry.
        const pinned: string[] = [];
        for (const m of out.matchAll(/^unpacking ((\S+?)(?::[\w][\w.-]*)?) \((sha256:[0-9a-f]{64})\)/gm)) {
          const reference = `${m[2]}@${m[3]}`;
          await ctr('images', 'tag', '--force', m[1]!, reference);
          pinned.push(reference);
        }
        return pinned;
      },
      async relayToPod(podIP: string, port: number) {
        const relay = await startPodRelay(footprint, nodeIP, podIP, port);
        relays.add(relay);
        return { ...relay, stop: async () => { relays.delete(relay); await relay.stop(); } };
      },
      pids() {
        return Object.fromEntries(processes.map((p) => [p.name, p.pid]));
      },
      stop: stopAll,
    };
  } catch (err) {
    const tails = processes.map((p) => `--- ${p.name}\n${p.tail(15)}`).join('\n');
    await stopAll().catch(() => undefined);
    throw new Error(`${(err as Error).message}${tails ? `\n${tails}` : ''}`);
  }
}

// ---- network: a namespace, a veth pair into it, and the apiserver relayed onto the host end ----

async function makeNetwork(fp: RealNodeFootprint): Promise<{ hostIP: string; nodeIP: string }> {
  const [hostIP, nodeIP] = await freeLinkAddresses();
  const peer = `chrn-${fp.id}`;
  await sh('ip', ['netns', 'add', fp.netns]);
  await sh('ip', ['link', 'add', fp.hostVeth, 'type', 'veth', 'peer', 'name', peer, 'netns', fp.netns]);
  await sh('ip', ['addr', 'add', `${hostIP}/30`, 'dev', fp.hostVeth]);
  await sh('ip', ['link', 'set', fp.hostVeth, 'up']);
  const inside = (...args: string[]) => sh('ip', ['-n', fp.netns, ...args]);
  await inside('link', 'set', 'lo', 'up');
  await inside('addr', 'add', `${nodeIP}/30`, 'dev', peer);
  await inside('link', 'set', peer, 'up');
  // No default route: Pod traffic has nowhere to go but the node's own namespace and this link.
  return { hostIP, nodeIP };
}

/** A /30 in 198.18.0.0/16 (reserved for network tests) that no interface on the host uses yet. */
async function freeLinkAddresses(): Promise<[string, string]> {
  const used = await sh('ip', ['-o', '-4', 'addr', 'show']);
  for (let attempt = 0; attempt < 64; attempt++) {
    const n = randomBytes(2);
    const third = n[0]!;
    const base = n[1]! & 0xfc;
    const prefix = `198.18.${third}.`;
    const taken = [0, 1, 2, 3].some((k) => used.includes(` ${prefix}${base + k}/`));
    if (!taken) return [`${prefix}${base + 1}`, `${prefix}${base + 2}`];
  }
  throw new Error('no free /30 in 198.18.0.0/16 for the real node link');
}

/** Forwards TCP from host:0 to target; the kubelet and kube-proxy reach the loopback-only apiserver through it. */
export function relayTcp(host: string, targetHost: string, targetPort: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  const close = server.close.bind(server);
  server.close = (cb) => {
    sockets.forEach((s) => s.destroy());
    return close(cb);
  };
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolveServer(server));
  });
}

/**
 * A Node.js relay run inside the node's namespace (ip netns exec): it listens on the node's address on a
 * port the kernel picks and forwards each connection to the Pod.
 */
async function startPodRelay(fp: RealNodeFootprint, nodeIP: string, podIP: string, port: number): Promise<PodRelay> {
  const code = `const net = require('net'); const s = net.createServer((c) => { const u = net.connect(${port}, ${JSON.stringify(podIP)}); c.pipe(u); u.pipe(c); `
    + 'const end = () => { c.destroy(); u.destroy(); }; c.on(\'error\', end); u.on(\'error\', end); c.on(\'close\', end); u.on(\'close\', end); });'
    + `s.listen(0, ${JSON.stringify(nodeIP)}, () => console.log(s.address().port)); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  // stdin is a pipe from this process: when it closes (this process exits, however), the relay exits too.
  const child = spawn('ip', ['netns', 'exec', fp.netns, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = await new Promise<number>((resolvePort, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolvePort(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the relay to ${podIP}:${port} in ${fp.netns} exited (${code}): ${stderr.trim()}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    host: nodeIP, port: listening,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Pods reach the apiserver as in any cluster, through the `kubernetes` Service (in-cluster config dials its
 * ClusterIP): the plane runs no endpoint reconciler, so the node publishes the relay as that Service's
 * endpoint, and Pod traffic leaving the node's namespace for it is masqueraded to the node's address (the
 * host has no route to the Pod subnet). One real node per plane: a second would re-point the endpoint.
 */
async function publishApiserver(plane: ControlPlane, fp: RealNodeFootprint, hostIP: string, relayPort: number): Promise<void> {
  await sh('ip', ['netns', 'exec', fp.netns, 'iptables', '-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-s', POD_SUBNET,
    '-o', `chrn-${fp.id}`, '-m', 'comment', '--comment', 'chrysalis real node: Pods to the host', '-j', 'MASQUERADE']);
  const { DiscoveryV1Api } = await import('@kubernetes/client-node');
  const discovery = plane.kubeConfig().makeApiClient(DiscoveryV1Api);
  const body = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'chrysalis-real-node' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [hostIP], conditions: { ready: true } }],
    ports: [{ name: 'https', port: relayPort, protocol: 'TCP' }],
  };
  await discovery.deleteNamespacedEndpointSlice({ name: 'kubernetes', namespace: 'default' }).catch(() => undefined);
  await discovery.createNamespacedEndpointSlice({ namespace: 'default', body });
}

// ---- cgroups: the node's Pods live under /chrysalis-<id> in every hierarchy ----

function cgroupHierarchies(): string[] {
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT];
  return readdirSync(CGROUP_ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.isSymbolicLink())
    .map((e) => join(CGROUP_ROOT, e.name))
    .filter((path) => existsSync(join(path, 'cgroup.procs')));
}

async function makeCgroups(name: string): Promise<void> {
  for (const hierarchy of cgroupHierarchies()) {
    const path = join(hierarchy, name);
    await mkdir(path, { recursive: true });
    // A new cpuset cgroup starts with no CPUs and no memory nodes; give it the parent's.
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(path, file))) await writeFile(join(path, file), await readFile(join(hierarchy, file), 'utf8'));
    }
  }
}

async function removeCgroups(name: string): Promise<void> {
  for (const hierarchy of cgroupHierarchies()) {
    const top = join(hierarchy, name);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (path: string) => {
      dirs.push(path);
      for (const e of readdirSync(path, { withFileTypes: true })) if (e.isDirectory()) walk(join(path, e.name));
    };
    walk(top);
    for (const path of dirs.reverse()) await rmdir(path).catch(() => undefined);
  }
}

// ---- configuration files ----

async function writeNodeKubeconfig(path: string, server: string, caCert: string, user: string, client: ClientCert): Promise<void> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  await writeFile(path, stringify({
    apiVersion: 'v1', kind: 'Config',
    // The relay's address is not in the apiserver's certificate; its loopback name is.
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': await b64(caCert), 'tls-server-name': 'localhost' } }],
    users: [{ name: user, user: { 'client-certificate-data': await b64(client.cert), 'client-key-data': await b64(client.key) } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user } }],
    'current-context': 'local',
  }), { mode: 0o600 });
}

async function writeContainerdConfig(dir: string, socket: string, bins: NodeBinaries): Promise<string> {
  const cniConfDir = join(dir, 'cni', 'net.d');
  await mkdir(cniConfDir, { recursive: true });
  await writeFile(join(cniConfDir, '10-chrysalis.conflist'), JSON.stringify({
    cniVersion: '1.0.0',
    name: 'chrysalis-pods',
    plugins: [{
      type: 'bridge', bridge: POD_BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'cni', 'ipam') },
    }],
  }, null, 2));
  const q = (s: string) => JSON.stringify(s);
  const path = join(dir, 'containerd.toml');
  await writeFile(path, [
    'version = 2',
    `root = ${q(join(dir, 'containerd', 'root'))}`,
    `state = ${q(join(dir, 'containerd', 'state'))}`,
        // opt would install into /opt/containerd; the others are snapshotters this node does not use.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",'
      + ' "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${q(socket)}`,
    '[ttrpc]',
    `  address = ${q(`${socket}.ttrpc`)}`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = ${q(bins.busyboxImage)}`,
    // This machine refuses negative oom_score_adj; without this every sandbox fails to start.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    '  SystemdCgroup = false',
    `  Root = ${q(join(dir, 'runc'))}`,
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    `  bin_dir = ${q(CNI_BIN_DIR)}`,
    `  conf_dir = ${q(cniConfDir)}`,
    '',
  ].join('\n'));
  return path;
}

async function writeKubeletConfig(dir: string, socket: string, caCert: string, cgroup: string, clusterDns: string): Promise<string> {
  const resolvConf = join(dir, 'resolv.conf');
  await writeFile(resolvConf, '');
  const path = join(dir, 'kubelet.yaml');
  await writeFile(path, stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${socket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${cgroup}`,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    // The apiserver (logs, exec) authenticates with its kubelet client certificate from the plane's CA;
    // anything else is checked with the apiserver (TokenReview, SubjectAccessReview).
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caCert } },
    authorization: { mode: 'Webhook' },
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    resolvConf,
    // The harness's cluster DNS (cluster-dns.ts) on the host end of the node's link.
    clusterDNS: [clusterDns],
    clusterDomain: CLUSTER_DOMAIN,
    podLogsDir: join(dir, 'pod-logs'),
    serializeImagePulls: false,
    // A shared development disk may be fuller than kubelet's defaults allow; evict only when truly out.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    volumePluginDir: join(dir, 'volume-plugins'),
    rotateCertificates: false,
    serverTLSBootstrap: false,
  }));
  return path;
}

async function writeKubeProxyConfig(dir: string, kubeconfig: string, name: string): Promise<string> {
  const path = join(dir, 'kube-proxy.yaml');
  await writeFile(path, stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: name,
    clusterCIDR: POD_SUBNET,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // Leave the kernel's conntrack sizing and timeouts alone (they are machine-wide).
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  }));
  return path;
}

// ---- readiness ----

async function until(name: string, proc: ManagedProcess, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${name} exited before it was ready; last log lines:\n${proc.tail()}`);
    if (await check()) return;
    await delay(250);
  }
  throw new Error(`${name} not ready within ${timeoutMs} ms; last log lines:\n${proc.tail()}`);
}

async function nodeReady(kc: import('@kubernetes/client-node').KubeConfig, name: string): Promise<boolean> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  try {
    const node = await kc.makeApiClient(CoreV1Api).readNode({ name });
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  } catch {
    return false;
  }
}

/**
 * What a device plugin does for its resource: the GPUs in the Node's status capacity and allocatable
 * (a JSON patch of the status subresource; the kubelet keeps extended resources it does not manage).
 */
async function advertiseGpus(plane: ControlPlane, name: string, gpus: number): Promise<void> {
  const { CoreV1Api, setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  const key = GPU_RESOURCE.replace('/', '~1');
  await plane.kubeConfig().makeApiClient(CoreV1Api).patchNodeStatus({ name, body: [
    { op: 'add', path: `/status/capacity/${key}`, value: String(gpus) },
    { op: 'add', path: `/status/allocatable/${key}`, value: String(gpus) },
  ] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
}

async function deleteNode(plane: ControlPlane, name: string): Promise<void> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  await plane.kubeConfig().makeApiClient(CoreV1Api).deleteNode({ name }).catch(() => undefined);
}

// ---- what kubelet and containerd change machine-wide ----

/**
 * kubelet sets these kernel tunables machine-wide on start (vm.overcommit_memory=1, kernel.panic=10, …);
 * the harness puts back what the machine had once the last real node on it stops.
 */
const KERNEL_TUNABLES = ['vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys', 'kernel.keys.root_maxbytes'];
const TUNABLES_FILE = '/run/chrysalis-real-node-sysctls.json';
/**
 * Fixed paths kubelet (its device-plugin socket) and containerd's shims use whatever their configuration
 * says: the socket is removed, the directories when empty.
 */
const SHARED_FILES = ['/var/lib/kubelet/device-plugins/kubelet.sock'];
const SHARED_DIRS = ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet', '/run/containerd/s', '/run/containerd'];
/** Where containerd 1.6's runc shims put their sockets, whatever containerd's state directory. */
const SHIM_SOCKETS = '/run/containerd/s';

const tunablePath = (key: string) => `/proc/sys/${key.replace(/\./g, '/')}`;

/** Records the machine's own values, unless a running node already did (it saw them before any kubelet). */
async function saveKernelTunables(): Promise<void> {
  if (existsSync(TUNABLES_FILE)) return;
  const values = Object.fromEntries(KERNEL_TUNABLES.map((key) => [key, readFileSync(tunablePath(key), 'utf8').trim()]));
  await writeFile(TUNABLES_FILE, JSON.stringify(values));
}

async function releaseMachineWide(): Promise<void> {
  if (existsSync(TUNABLES_FILE)) {
    const values = JSON.parse(await readFile(TUNABLES_FILE, 'utf8')) as Record<string, string>;
    for (const [key, value] of Object.entries(values)) await writeFile(tunablePath(key), value).catch(() => undefined);
    await rm(TUNABLES_FILE, { force: true });
  }
  for (const path of SHARED_FILES) await rm(path, { force: true });
  // A shim killed with its node (a crashed run) leaves its socket; none is listening on it any more.
  const listening = readFileSync('/proc/net/unix', 'utf8');
  for (const entry of existsSync(SHIM_SOCKETS) ? readdirSync(SHIM_SOCKETS) : []) {
    const path = join(SHIM_SOCKETS, entry);
    if (!listening.includes(path)) await rm(path, { force: true });
  }
  for (const path of SHARED_DIRS) await rmdir(path).catch(() => undefined);
}

/** Other real nodes running on this machine now (their namespaces), which share the machine-wide state. */
function otherNodes(fp: RealNodeFootprint): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => /^chrysalis-[0-9a-f]{6}$/.test(n) && n !== fp.netns);
  } catch {
    return [];
  }
}

// ---- cleanup ----

/** Named namespaces with an interface linked into the node's namespace: its Pods' (their veth peers). */
async function netnsLinkedTo(netns: string): Promise<string[]> {
  if (!existsSync(join(NETNS_DIR, netns))) return [];
  const ids = await sh('ip', ['-n', netns, 'netns', 'list-id']).catch(() => '');
  return [...ids.matchAll(/iproute2 netns name: (\S+?)\)/g)].map((m) => join(NETNS_DIR, m[1]!)).filter((path) => path !== join(NETNS_DIR, netns));
}

/**
 * Nodes whose owning process is gone (a test run killed before it could stop them) are torn down before a
 * new node starts, so a crash leaves the machine dirty only until the next run.
 */
async function sweepStaleNodes(log: (line: string) => void): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    const m = /^chrysalis-node-([0-9a-f]{6})-/.exec(entry);
    if (!m) continue;
    const dir = join(tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch {
      continue;
    }
    if (isAlive(owner)) continue;
    const id = m[1]!;
    log(`removing stale node ${id} (its owner ${owner} is gone)`);
    await teardown({ id, dir, netns: `chrysalis-${id}`, hostVeth: `chrh-${id}`, cgroup: `chrysalis-${id}`, podNetns: [] }, [], undefined, log);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Network namespaces of the node's Pod sandboxes, as containerd recorded them. */
async function sandboxNetns(socket: string): Promise<string[]> {
  const ids = (await sh('ctr', ['--address', socket, '-n', 'k8s.io', 'containers', 'ls', '-q'])).split('\n').filter(Boolean);
  const paths = new Set<string>();
  for (const id of ids) {
    try {
      const info = JSON.parse(await sh('ctr', ['--address', socket, '-n', 'k8s.io', 'containers', 'info', id])) as
        { Spec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
      // Sandboxes name their namespace's bind mount; containers join a sandbox's through /proc.
      for (const ns of info.Spec?.linux?.namespaces ?? []) {
        if (ns.type === 'network' && ns.path?.startsWith(`${NETNS_DIR}/`)) paths.add(ns.path);
      }
    } catch { /* removed meanwhile */ }
  }
  return [...paths];
}

async function teardown(fp: RealNodeFootprint, processes: ManagedProcess[], relay: Server | undefined, log: (line: string) => void, tsm?: SimulatedTsm): Promise<void> {
  const socket = join(fp.dir, 'containerd.sock');
  const containerd = processes.find((p) => p.name === 'containerd');
  for (const p of [...processes].reverse()) if (p !== containerd) await p.stop();
  const podNetns = fp.podNetns;
  for (const path of await netnsLinkedTo(fp.netns)) if (!podNetns.includes(path)) podNetns.push(path);
  if (containerd?.running) {
    for (const path of await sandboxNetns(socket).catch(() => [])) if (!podNetns.includes(path)) podNetns.push(path);
    const ctr = (...args: string[]) => tryRun('ctr', ['--address', socket, '-n', 'k8s.io', ...args]);
    const tasks = (await sh('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'ls', '-q']).catch(() => '')).split('\n').filter(Boolean);
    for (const task of tasks) await ctr('tasks', 'kill', '--signal', 'SIGKILL', '--all', task);
    for (const task of tasks) {
      for (let i = 0; i < 20 && !(await ctr('tasks', 'delete', '--force', task)); i++) await delay(250);
    }
    await containerd.stop();
  }
  await killProcesses(fp, podNetns);
  // The simulated TSM is served by this process: unmounted before anything walks the node's directory.
  await tsm?.unmount();
  await unmountUnder(fp.dir);
  for (const path of podNetns) {
    await tryRun('umount', [path]);
    await rm(path, { force: true });
  }
  await tryRun('ip', ['netns', 'delete', fp.netns]);
  await tryRun('ip', ['link', 'delete', fp.hostVeth]);
  await removeCgroups(fp.cgroup);
  if (otherNodes(fp).length === 0) await releaseMachineWide();
  await new Promise<void>((resolveClose) => (relay ? relay.close(() => resolveClose()) : resolveClose()));
  await rm(fp.dir, { recursive: true, force: true }).catch(async () => {
    await unmountUnder(fp.dir, true);
    await rm(fp.dir, { recursive: true, force: true });
  });
  log(`node ${fp.id} removed`);
}

function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Processes the node left: any whose command line names its directory, or that live in its namespaces. */
function nodeProcesses(fp: RealNodeFootprint, podNetns: string[]): { pid: number; cmd: string }[] {
  const inodes = new Set([join(NETNS_DIR, fp.netns), ...podNetns].map(netnsInode).filter((i): i is number => i !== undefined));
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const net = /net:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`));
      if (cmd.includes(fp.dir) || (net && inodes.has(Number(net[1])))) found.push({ pid, cmd });
    } catch { /* exited meanwhile */ }
  }
  return found;
}

async function killProcesses(fp: RealNodeFootprint, podNetns: string[]): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const left = nodeProcesses(fp, podNetns);
    if (left.length === 0) return;
    for (const { pid } of left) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await delay(250);
  }
}

/** Mount points at or under a directory, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountUnder(dir: string, lazy = false): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const point of points) await tryRun('umount', lazy || round > 2 ? ['-l', point] : [point]);
  }
}

/**
 * What of a node remains on the machine, one line per thing: processes, mounts, network namespaces
 * (its own and its Pods'), the host's veth, cgroups, its directory, and host iptables rules naming it.
 * Empty after a clean stop.
 */
export async function realNodeLeftovers(fp: RealNodeFootprint): Promise<string[]> {
  const podNetns = [...new Set([...fp.podNetns, ...await netnsLinkedTo(fp.netns)])];
  const left: string[] = [];
  for (const { pid, cmd } of nodeProcesses(fp, podNetns)) left.push(`process ${pid}: ${cmd}`);
  for (const point of mountsUnder(fp.dir)) left.push(`mount ${point}`);
  for (const path of [join(NETNS_DIR, fp.netns), ...podNetns]) {
    if (existsSync(path)) left.push(`network namespace ${path}`);
    if (mountsUnder(path).length > 0) left.push(`mount ${path}`);
  }
  if (await tryRun('ip', ['link', 'show', fp.hostVeth])) left.push(`link ${fp.hostVeth}`);
  for (const hierarchy of cgroupHierarchies()) {
    if (existsSync(join(hierarchy, fp.cgroup))) left.push(`cgroup ${join(hierarchy, fp.cgroup)}`);
  }
  if (existsSync(fp.dir)) left.push(`directory ${fp.dir}`);
  const rules = await sh('iptables-save', []).catch(() => '');
  for (const line of rules.split('\n')) if (line.includes(fp.id)) left.push(`iptables ${line}`);
  if (otherNodes(fp).length === 0) {
    if (existsSync(TUNABLES_FILE)) left.push(`kernel tunables not restored (${TUNABLES_FILE})`);
    for (const path of [...SHARED_FILES, ...SHARED_DIRS]) if (existsSync(path)) left.push(`shared path ${path}`);
  }
  return left;
}
