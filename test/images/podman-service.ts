// podman's Docker-compatible API on a unix socket of the test's own, for testcontainers: the images built
// by scripts/build-images.sh live in podman's storage, so testcontainers starts them with no registry and
// no Docker daemon. Ryuk (testcontainers' reaper container, pulled from a registry) is off; each test
// stops what it started.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ManagedProcess, delay } from '../../dev/cluster/managed-process.js';
import { requireRealNodeHost } from '../../dev/cluster/node-binaries.js';

const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** podman and buildah read this (scripts/podman-env.sh sets the same for the scripts). */
export const CONTAINERS_CONF = join(repoRoot, 'scripts', 'containers.conf');

export interface PodmanService {
  socket: string;
  stop(): Promise<void>;
}

/**
 * Starts `podman system service` on a fresh socket and points testcontainers at it (DOCKER_HOST,
 * TESTCONTAINERS_RYUK_DISABLED) for this process.
 */
export async function startPodmanService(): Promise<PodmanService> {
  requireRealNodeHost();
  const dir = await mkdtemp(join(tmpdir(), 'chrysalis-podman-'));
  const socket = join(dir, 'podman.sock');
  process.env.CONTAINERS_CONF = CONTAINERS_CONF;
  const service = new ManagedProcess('podman', 'podman', ['system', 'service', '--time=0', `unix://${socket}`], dir);
  service.start();
  const deadline = Date.now() + 30_000;
  while (!(await run('podman', ['--url', `unix://${socket}`, 'version']).then(() => true, () => false))) {
    if (!service.running) throw new Error(`podman system service exited:\n${service.tail()}`);
    if (Date.now() > deadline) throw new Error(`podman system service not answering on ${socket}:\n${service.tail()}`);
    await delay(200);
  }
  process.env.DOCKER_HOST = `unix://${socket}`;
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  return {
    socket,
    async stop() {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Builds (or finds, cached) the operator, attester and engine-cpu images; returns their names by component. */
export async function localImages(): Promise<{ operator: string; attester: string; engineCpu: string }> {
  requireRealNodeHost();
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [join(repoRoot, 'scripts', 'build-images.sh')], { maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`scripts/build-images.sh failed: ${stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
  const names = stdout.trim().split('\n');
  const find = (component: string) => {
    const name = names.find((n) => n.includes(`/chrysalis-${component}:`));
    if (!name) throw new Error(`scripts/build-images.sh printed no ${component} image: ${stdout}`);
    return name;
  };
  return { operator: find('operator'), attester: find('attester'), engineCpu: find('engine-cpu') };
}
