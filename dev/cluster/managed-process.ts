// A child process the harness owns: output goes to a log file in the run directory, its PID is
// recorded in the run's pid file (so the reaper can kill it if this process dies), and stop() ends it
// by PID — SIGTERM, then SIGKILL after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, openSync, readFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly runDir: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get logFile(): string {
    return join(this.runDir, `${this.name}.log`);
  }

  start(): void {
    const out = openSync(this.logFile, 'a');
    const child = spawn(this.command, this.args, { stdio: ['ignore', out, out], env: { ...process.env } });
    closeSync(out);
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', () => resolveExit()));
    if (child.pid !== undefined) appendFileSync(join(this.runDir, 'pids'), `${child.pid}\n`);
  }

  /** The last lines of the log, for error messages when a component will not come up. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([this.exited.then(() => true), delay(graceMs).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** kill -9, for crash tests. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
