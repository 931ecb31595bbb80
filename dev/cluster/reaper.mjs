// The reaper: a detached watchdog started with every local control plane. It polls the process that
// started the control plane; when that process is gone (a crashed or killed test run) it kills every
// PID listed in the run's pid file and removes the run directory. A normal stop removes the pid file
// first, which tells the reaper to leave quietly. Plain JavaScript so it starts without a loader.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [ownerPid, runDir] = [Number(process.argv[2]), process.argv[3]];
const pidFile = join(runDir, 'pids');

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function reap() {
  const pids = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  rmSync(runDir, { recursive: true, force: true });
}

const timer = setInterval(() => {
  if (!existsSync(runDir)) {
    clearInterval(timer);
    return;
  }
  if (!alive(ownerPid)) {
    clearInterval(timer);
    reap();
  }
}, 500);
