// The embedded chain: @ton/sandbox's Blockchain in this process, its state kept in a directory so that a
// restart (of the operator, or of "the endpoint") keeps every balance, every commit and every claim.
//
// Layout of the state directory:
//   state.json   {version: 1, generation, snapshot}: the sandbox snapshot (snapshotToSerializable) with
//                its transaction log dropped (the accounts' states are the chain; the log only grows).
//                Written to state.json.tmp and renamed, so a reader sees the old or the new file, never
//                half of one.
//   lock         held (O_EXCL create, our pid and PID namespace inside) during a unit of work; a lock
//                whose holder is dead is taken over (state-lock.ts). Several processes (the operator, the CLI's claims) can therefore share one
//                state directory: each unit of work reloads the state if another process changed it.
//
// A unit of work that fails half way keeps what the chain did (a real chain does not roll back either);
// only the `beforePersist` hook (crash injection: "the endpoint died before it persisted") drops the
// in-memory state so that the next unit reloads what is on disk.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { toNano, type Address, type ContractProvider, type StateInit } from '@ton/core';
import { Blockchain, snapshotFromSerializable, snapshotToSerializable } from '@ton/sandbox';
import { EndpointUnreachableError, type ChainSession, type SettlementChain } from './chain.js';
import { acquireStateLock } from './state-lock.js';

export interface SandboxChainOptions {
  stateDir: string;
  /** Unix seconds; default the wall clock. Tests inject one clock shared with the controller. */
  clock?: () => number;
  /** Seed of the treasury that deploys, funds and claims (default 'chrysalis-sandbox'). */
  treasurySeed?: string;
  /** Crash and outage injection for tests. */
  hooks?: {
    /** Throw from it to model the endpoint dying after executing but before persisting. */
    beforePersist?: () => void;
    /** Return true to model the endpoint being down: every unit fails with EndpointUnreachableError. */
    down?: () => boolean;
  };
  /** How long to wait for another process's lock (default 30 s). */
  lockTimeoutMs?: number;
  /** Age after which a lock held from another PID namespace is taken over (default 120 s; state-lock.ts). */
  foreignLockStaleMs?: number;
}

interface StateFile {
  version: 1;
  generation: number;
  snapshot: ReturnType<typeof snapshotToSerializable>;
}

/** One in-process queue per state directory: the file lock cannot tell two objects of one process apart. */
const inProcess = new Map<string, Promise<unknown>>();

export const SANDBOX_TREASURY_BALANCE = toNano('1000000');

export class SandboxChain implements SettlementChain {
  readonly network = 'sandbox' as const;
  private chain: Blockchain | undefined;
  /** Identity of the state file this object last read or wrote: reload when it differs. */
  private stamp: string | undefined;
  private generation = 0;
  private closed = false;
  private readonly dir: string;

  constructor(private readonly options: SandboxChainOptions) {
    this.dir = resolve(options.stateDir);
    mkdirSync(this.dir, { recursive: true });
  }

  get stateDir(): string { return this.dir; }

  run<T>(fn: (session: ChainSession) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('sandbox chain is closed'));
    const previous = inProcess.get(this.dir) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.locked(fn));
    inProcess.set(this.dir, next.catch(() => undefined));
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await inProcess.get(this.dir);
    this.chain = undefined;
  }

  /** The treasury's address (the owner of contracts this chain deploys). */
  async treasuryAddress(): Promise<Address> {
    return this.run(async (s) => s.sender().address!);
  }

  private async locked<T>(fn: (session: ChainSession) => Promise<T>): Promise<T> {
    if (this.options.hooks?.down?.()) throw new EndpointUnreachableError('sandbox chain endpoint is down');
    const release = await this.acquire();
    try {
      const chain = await this.load();
      const now = this.options.clock?.();
      if (now !== undefined) chain.now = now;
      const treasury = await chain.treasury(this.options.treasurySeed ?? 'chrysalis-sandbox', { balance: SANDBOX_TREASURY_BALANCE });
      // Only units that sent something change the chain; reads are not persisted.
      let dirty = this.stamp === undefined;
      const sent = () => { dirty = true; };
      const session: ChainSession = {
        provider: (address: Address, init?: StateInit | null) => runningProvider(chain, chain.provider(address, init), sent),
        sender: () => { const inner = treasury.getSender(); return { address: inner.address, send: async (args) => { sent(); await inner.send(args); } }; },
        now: () => chain.now ?? Math.floor(Date.now() / 1000),
      };
      let result: T;
      try {
        result = await fn(session);
      } finally {
        if (dirty) this.persist(chain);
      }
      return result;
    } finally {
      release();
    }
  }

  private persist(chain: Blockchain): void {
    try {
      this.options.hooks?.beforePersist?.();
    } catch (err) {
      // What this unit did is lost: the next unit starts from the last persisted state.
      this.chain = undefined;
      this.stamp = undefined;
      throw err;
    }
    const snapshot = snapshotToSerializable(chain.snapshot());
    snapshot.transactions = [];
    const file: StateFile = { version: 1, generation: ++this.generation, snapshot };
    const path = join(this.dir, 'state.json');
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
    this.stamp = stampOf(path);
  }

  private async load(): Promise<Blockchain> {
    const path = join(this.dir, 'state.json');
    const stamp = existsSync(path) ? stampOf(path) : undefined;
    if (this.chain && stamp === this.stamp) return this.chain;
    const chain = await Blockchain.create();
    if (stamp) {
      const file = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
      if (file.version !== 1) throw new Error(`${path}: unsupported sandbox state version ${String(file.version)}`);
      await chain.loadFrom(snapshotFromSerializable(file.snapshot));
      this.generation = file.generation;
    }
    this.chain = chain;
    this.stamp = stamp;
    return chain;
  }

  private acquire(): Promise<() => void> {
    return acquireStateLock(this.dir, {
      timeoutMs: this.options.lockTimeoutMs ?? 30_000,
      foreignStaleMs: this.options.foreignLockStaleMs ?? 120_000,
      timedOut: (holder) => new EndpointUnreachableError(`sandbox state ${this.dir} is locked by process ${holder}`),
    });
  }
}

/**
 * A sandbox provider only queues the messages it is given; the Blockchain's opened contracts run the
 * queue after each send. Do the same here so a send through a plain provider executes (and an external
 * message the contract does not accept throws, as it does through an opened contract).
 */
function runningProvider(chain: Blockchain, provider: ContractProvider, sent: () => void): ContractProvider {
  const queue = (chain as unknown as { defaultQueueManager: { runQueue(): Promise<unknown> } }).defaultQueueManager;
  return new Proxy(provider, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if ((prop === 'internal' || prop === 'external') && typeof value === 'function') {
        return async (...args: unknown[]) => {
          sent();
          await (value as (...a: unknown[]) => Promise<void>).apply(target, args);
          await queue.runQueue();
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function stampOf(path: string): string {
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}
