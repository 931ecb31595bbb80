// The sandbox chain's state-directory lock: an O_EXCL-created file naming its holder, so that several
// processes (the operator, the CLI's claims) can share one state directory one unit of work at a time.
//
// The holder is named by its pid *and its PID namespace*. The directory may be shared across namespaces
// (an operator Pod's emptyDir read by a process on the node), and a pid means nothing outside its own
// namespace: a holder in another namespace looks dead from here (kill(pid, 0) fails with ESRCH), so
// taking over "dead" holders by pid alone would let two processes write the state at once. A lock from
// another namespace is therefore taken over only once it is older than any unit of work can last.
import { closeSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface StateLockOptions {
  /** How long to wait for another process's lock before `timedOut` is thrown. */
  timeoutMs: number;
  /** Age after which a lock held from another PID namespace is taken to be abandoned. */
  foreignStaleMs: number;
  /** The error to throw when the wait times out (names the holder). */
  timedOut: (holder: string) => Error;
}

/** This process's PID namespace ("pid:[4026531836]"), or "unknown" where /proc does not say. */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
}

interface Holder {
  pid: number;
  /** Absent in locks written before namespaces were recorded: read as this namespace. */
  namespace?: string;
}

function parseHolder(text: string): Holder | undefined {
  const [pid, namespace] = text.trim().split(/\s+/, 2);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return namespace ? { pid: n, namespace } : { pid: n };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock in `dir`, waiting for its holder; returns the release function. */
export async function acquireStateLock(dir: string, options: StateLockOptions): Promise<() => void> {
  const lock = join(dir, 'lock');
  const ours = pidNamespace();
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid} ${ours}`);
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text: string;
    let ageMs: number;
    try {
      text = readFileSync(lock, 'utf8');
      ageMs = Date.now() - statSync(lock).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    const holder = parseHolder(text);
    const sameNamespace = holder !== undefined && (holder.namespace === undefined || holder.namespace === ours);
    if (holder && sameNamespace && holder.pid === process.pid) {
      // Only a previous object of this process that was abandoned mid-unit can hold it (the caller's
      // in-process queue serialises live ones): take it over.
      rmSync(lock, { force: true });
      continue;
    }
    if (holder && sameNamespace && !alive(holder.pid)) {
      rmSync(lock, { force: true }); // its holder died (kill -9)
      continue;
    }
    if (!sameNamespace && ageMs > options.foreignStaleMs) {
      // Another namespace's holder (or an unreadable lock) that has held it far longer than a unit of
      // work takes: abandoned with its Pod or process.
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw options.timedOut(text.trim() || 'unknown');
    await new Promise((r) => setTimeout(r, 20));
  }
}
