// Finds the control-plane binaries: CHRYSALIS_BIN_DIR when set, otherwise the cached build made by
// scripts/build-control-plane.sh (which builds them on first use and is a no-op afterwards).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from './package-root.js';

const run = promisify(execFile);
const repoRoot = packageRoot(import.meta.url);

export interface ControlPlaneBinaries {
  binDir: string;
  /** kwok Stage manifests (node initialise + heartbeat, pod ready/complete/delete). */
  kwokStagesDir: string;
}

const REQUIRED = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok', 'helm'];

let cached: Promise<ControlPlaneBinaries> | undefined;

export function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  cached ??= locate();
  return cached;
}

async function locate(): Promise<ControlPlaneBinaries> {
  let binDir = process.env.CHRYSALIS_BIN_DIR;
  if (!binDir) {
    const script = join(repoRoot, 'scripts/build-control-plane.sh');
    // The script prints progress on stderr (inherited would interleave with test output, so it is
    // captured) and the bin directory as its last stdout line.
    const { stdout } = await run('bash', [script], { maxBuffer: 64 * 1024 * 1024 });
    binDir = stdout.trim().split('\n').pop() ?? '';
  }
  const missing = REQUIRED.filter((b) => !existsSync(join(binDir, b)));
  if (missing.length > 0) {
    throw new Error(`control-plane binaries missing in ${binDir}: ${missing.join(', ')}; run \`make control-plane\``);
  }
  return { binDir, kwokStagesDir: join(binDir, '..', 'kwok-stages') };
}
