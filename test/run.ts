// `npm test`: starts one local control plane for the whole ava run (unless CHRYSALIS_TEST_KUBECONFIG
// names an existing cluster), runs ava with the given arguments, and stops everything it started —
// also on Ctrl-C. The exit code is ava's.
import { spawn } from 'node:child_process';
import { startControlPlane, type ControlPlane } from '../dev/cluster/control-plane.js';
import { TEST_KUBECONFIG_ENV } from './cluster/env.js';

const args = process.argv.slice(2);
let plane: ControlPlane | undefined;
const env = { ...process.env };

if (!env[TEST_KUBECONFIG_ENV]) {
  const started = Date.now();
  plane = await startControlPlane({ log: (line) => process.stderr.write(`[control-plane] ${line}\n`) });
  process.stderr.write(`[control-plane] up in ${((Date.now() - started) / 1000).toFixed(1)}s, kubeconfig ${plane.kubeconfigPath}\n`);
  env[TEST_KUBECONFIG_ENV] = plane.kubeconfigPath;
  env.CHRYSALIS_BIN_DIR ??= plane.binDir;
}
// Operator logs from in-process controllers would bury ava's report; warnings and errors still show.
if (!env.CHRYSALIS_LOG_LEVEL) {
  env.CHRYSALIS_LOG_LEVEL = 'warn';
}

const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...args], { stdio: 'inherit', env });
const stopAll = async () => {
  if (plane) await plane.stop();
  plane = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    ava.kill(signal);
  });
}
const code: number = await new Promise((resolveCode) => ava.on('exit', (c, s) => resolveCode(c ?? (s ? 1 : 0))));
await stopAll();
process.exit(code);
