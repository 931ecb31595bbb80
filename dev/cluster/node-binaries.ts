// What a real node needs on this machine, found (and installed or built on first use) by the project's
// scripts: the Debian packages (install-node-deps.sh), kubelet and kube-proxy (build-control-plane.sh
// --node, cached like the control plane) and the node's small image (build-node-image.sh). A machine that
// cannot run a real node gets an error that says why, never a silent skip.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  /** OCI archive of busybox-static from Debian: the sandbox ("pause") image and a tiny test image. */
  busyboxArchive: string;
  /** The name that archive's image carries once imported. */
  busyboxImage: string;
}

/** Commands the node runs from the Debian packages. */
const TOOLS = ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'iptables', 'nsenter', 'ip', 'mount', 'umount'];
/** CNI plugins the node's network configuration uses. */
export const CNI_BIN_DIR = '/usr/lib/cni';
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'];

let cached: Promise<NodeBinaries> | undefined;

export function nodeBinaries(): Promise<NodeBinaries> {
  cached ??= locate();
  return cached;
}

/** Throws, with the reason, when this process cannot run a real node. */
export function requireRealNodeHost(): void {
  if (process.platform !== 'linux') throw new Error(`a real node needs Linux (network namespaces, cgroups); this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    throw new Error('a real node needs root (it makes network namespaces, cgroups and mounts): run the real-node tests as root, as CI does');
  }
}

async function script(name: string, ...args: string[]): Promise<string[]> {
  try {
    const { stdout } = await run('bash', [join(repoRoot, 'scripts', name), ...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim().split('\n');
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`scripts/${name} failed: ${stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
}

async function onPath(tool: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${tool}`], { env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
}

async function locate(): Promise<NodeBinaries> {
  requireRealNodeHost();
  await script('install-node-deps.sh');
  const missingTools = [];
  for (const tool of TOOLS) if (!(await onPath(tool))) missingTools.push(tool);
  const missingPlugins = CNI_PLUGINS.filter((p) => !existsSync(join(CNI_BIN_DIR, p)));
  if (missingTools.length > 0 || missingPlugins.length > 0) {
    throw new Error(`a real node needs ${[...missingTools, ...missingPlugins.map((p) => `${CNI_BIN_DIR}/${p}`)].join(', ')}; `
      + 'scripts/install-node-deps.sh installs them from Debian packages');
  }
  const binDir = (await script('build-control-plane.sh', '--node')).pop() ?? '';
  const [busyboxArchive, busyboxImage] = (await script('build-node-image.sh')).slice(-2);
  const kubelet = join(binDir, 'kubelet');
  const kubeProxy = join(binDir, 'kube-proxy');
  for (const file of [kubelet, kubeProxy, busyboxArchive ?? '']) {
    if (!existsSync(file)) throw new Error(`real-node file missing: ${file}; run \`make setup\``);
  }
  return { kubelet, kubeProxy, busyboxArchive: busyboxArchive!, busyboxImage: busyboxImage! };
}
