// A simulated configfs-TSM device: a FUSE file system the harness mounts on the machine, laid out and
// behaving like the kernel's /sys/kernel/config/tsm (Documentation/ABI/testing/configfs-tsm), with the
// simulated TEE behind it. A real node's attester Pod mounts it where the chart mounts configfs-tsm and
// reads reports through the same file protocol as on hardware (attester/src/cpu/tsm.ts):
//
//   report/                      mkdir report/<name> makes an entry with the attribute files below
//   report/<name>/provider       "sev_guest"
//   report/<name>/inblob         (write) report_data, up to 64 bytes; every write bumps generation
//   report/<name>/privlevel      (write) the VMPL to ask for; bumps generation
//   report/<name>/privlevel_floor  "0"
//   report/<name>/generation     the write counter
//   report/<name>/outblob        the SEV-SNP report for the current inblob, signed by the simulated VCEK
//   report/<name>/auxblob        the certificate table (VCEK, ASK, ARK) the host would supply
//
// The report is the simulated platform's: its VCEK chains to the simulated root, so the verifier flags it
// simulated (accepted only by a policy that lists that root and sets allowSimulated), exactly as the
// attester's own simulated source is.
//
// The FUSE kernel protocol (include/uapi/linux/fuse.h) is spoken directly over /dev/fuse: the harness
// opens it, `mount -i -t fuse -o fd=N` attaches it, and this process answers the kernel's requests. Only
// what the file protocol above needs is served; everything else answers ENOSYS.
import { spawn } from 'node:child_process';
import { closeSync, openSync, read, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { buildCertTable } from '../../attester/src/cpu/cert-table.js';
import type { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

// Opcodes (fuse.h, enum fuse_opcode).
const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, MKDIR: 9, RMDIR: 11, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, ACCESS: 34, INTERRUPT: 36,
  DESTROY: 38, BATCH_FORGET: 42,
} as const;
const ERR = { EPERM: 1, ENOENT: 2, EACCES: 13, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENOSYS: 38, ENOTEMPTY: 39 } as const;
const IN_HEADER = 40;
const OUT_HEADER = 16;
const ATTR_BYTES = 88;
/** FOPEN_DIRECT_IO: every read and write reaches us (the contents change under the same size). */
const FOPEN_DIRECT_IO = 1;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const REPORT_DATA_BYTES = 64;

type Attribute = 'provider' | 'inblob' | 'privlevel' | 'privlevel_floor' | 'generation' | 'outblob' | 'auxblob';
const ATTRIBUTES: Record<Attribute, number> = {
  provider: 0o444, inblob: 0o200, privlevel: 0o200, privlevel_floor: 0o444, generation: 0o444, outblob: 0o444, auxblob: 0o444,
};

interface Entry {
  generation: number;
  inblob: Uint8Array;
  privlevel: number;
  /** The report for `generation`, made on the first read of outblob or auxblob after a write. */
  report?: { generation: number; outblob: Uint8Array; auxblob: Uint8Array };
}

type Inode =
  | { kind: 'dir'; name: string; parent: number; children: Map<string, number>; entry?: Entry }
  | { kind: 'file'; name: string; parent: number; attribute: Attribute; entry: Entry };

export interface SimulatedTsm {
  /** The mount point: what the chart's `attester.tsm.hostPath` names (reports under `<path>/report`). */
  readonly path: string;
  /** Reports handed out (outblob reads that made a new report). */
  readonly reports: number;
  unmount(): Promise<void>;
}

async function sh(command: string, args: string[], extraFd?: number): Promise<void> {
  await new Promise<void>((resolveRun, rejectRun) => {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'ignore', 'pipe'];
    if (extraFd !== undefined) stdio.push(extraFd);
    const child = spawn(command, args, { stdio, env: { ...process.env, PATH } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', rejectRun);
    child.once('exit', (code) => (code === 0 ? resolveRun() : rejectRun(new Error(`${command} ${args.join(' ')}: exit ${code}: ${stderr.trim()}`))));
  });
}

/**
 * Mounts a simulated configfs-TSM at `path` (created if missing), answered by this process from `tee`'s
 * SEV-SNP platform. Needs root and /dev/fuse. Nothing in this process may touch the mount synchronously
 * (it would wait on itself); other processes (kubelet, the attester) use it freely.
 */
export async function mountSimulatedTsm(path: string, tee: SimulatedTee): Promise<SimulatedTsm> {
  await mkdir(path, { recursive: true });
  const fd = openSync('/dev/fuse', 'r+');
  const inodes = new Map<number, Inode>();
  inodes.set(1, { kind: 'dir', name: '', parent: 1, children: new Map([['report', 2]]) });
  inodes.set(2, { kind: 'dir', name: 'report', parent: 1, children: new Map() });
  let nextIno = 3;
  let reports = 0;
  let closed = false;

  const reportFor = (entry: Entry) => {
    if (entry.report?.generation !== entry.generation) {
      const reportData = new Uint8Array(REPORT_DATA_BYTES);
      reportData.set(entry.inblob.subarray(0, REPORT_DATA_BYTES));
      const evidence = tee.snpReport({ reportData, vmpl: entry.privlevel });
      const [ask, ark] = evidence.chain;
      entry.report = { generation: entry.generation, outblob: evidence.report, auxblob: buildCertTable({ vcek: evidence.vcek, ask: ask!, ark: ark! }) };
      reports++;
    }
    return entry.report;
  };
  const contents = (node: Inode & { kind: 'file' }): Uint8Array | number => {
    const text = (s: string) => new Uint8Array(Buffer.from(`${s}\n`));
    switch (node.attribute) {
      case 'provider': return text('sev_guest');
      case 'generation': return text(String(node.entry.generation));
      case 'privlevel_floor': return text('0');
      case 'outblob': return reportFor(node.entry).outblob;
      case 'auxblob': return reportFor(node.entry).auxblob;
      default: return -ERR.EACCES; // write-only attributes
    }
  };

  const attr = (ino: number): Buffer => {
    const node = inodes.get(ino)!;
    const b = Buffer.alloc(ATTR_BYTES);
    const now = BigInt(Math.floor(Date.now() / 1000));
    b.writeBigUInt64LE(BigInt(ino), 0);
    const size = node.kind === 'file' && ATTRIBUTES[node.attribute] & 0o444 && node.attribute !== 'outblob' && node.attribute !== 'auxblob'
      ? (contents(node) as Uint8Array).length : 0;
    b.writeBigUInt64LE(BigInt(size), 8);
    for (const at of [24, 32, 40]) b.writeBigUInt64LE(now, at); // atime, mtime, ctime
    b.writeUInt32LE(node.kind === 'dir' ? S_IFDIR | 0o755 : S_IFREG | ATTRIBUTES[node.attribute], 60);
    b.writeUInt32LE(node.kind === 'dir' ? 2 : 1, 64); // nlink
    b.writeUInt32LE(4096, 80); // blksize
    return b;
  };
  const entryOut = (ino: number): Buffer => {
    const b = Buffer.alloc(40);
    b.writeBigUInt64LE(BigInt(ino), 0);
    // entry_valid and attr_valid 0: the kernel asks again every time, since entries come and go.
    return Buffer.concat([b, attr(ino)]);
  };
  const attrOut = (ino: number): Buffer => Buffer.concat([Buffer.alloc(16), attr(ino)]);

  const reply = (unique: bigint, error: number, payload: Buffer = Buffer.alloc(0)) => {
    if (closed) return;
    const header = Buffer.alloc(OUT_HEADER);
    header.writeUInt32LE(OUT_HEADER + (error === 0 ? payload.length : 0), 0);
    header.writeInt32LE(error, 4);
    header.writeBigUInt64LE(unique, 8);
    try {
      writeSync(fd, error === 0 ? Buffer.concat([header, payload]) : header);
    } catch {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted meanwhile.
    }
  };
  const name = (body: Buffer, at = 0) => body.subarray(at, body.indexOf(0, at) < 0 ? body.length : body.indexOf(0, at)).toString('utf8');

  const makeEntry = (parent: number, entryName: string): number => {
    const entry: Entry = { generation: 0, inblob: new Uint8Array(0), privlevel: 0 };
    const ino = nextIno++;
    const children = new Map<string, number>();
    inodes.set(ino, { kind: 'dir', name: entryName, parent, children, entry });
    for (const attribute of Object.keys(ATTRIBUTES) as Attribute[]) {
      const fileIno = nextIno++;
      inodes.set(fileIno, { kind: 'file', name: attribute, parent: ino, attribute, entry });
      children.set(attribute, fileIno);
    }
    return ino;
  };

  const handle = (opcode: number, unique: bigint, nodeid: number, body: Buffer) => {
    const node = inodes.get(nodeid);
    switch (opcode) {
      case OP.INIT: {
        const out = Buffer.alloc(64);
        out.writeUInt32LE(7, 0);
        out.writeUInt32LE(31, 4);
        out.writeUInt32LE(body.readUInt32LE(8), 8); // max_readahead as offered
        out.writeUInt16LE(16, 16); // max_background
        out.writeUInt16LE(12, 18); // congestion_threshold
        out.writeUInt32LE(64 * 1024, 20); // max_write
        out.writeUInt32LE(1, 24); // time_gran
        return reply(unique, 0, out);
      }
      case OP.FORGET: case OP.BATCH_FORGET: case OP.INTERRUPT: return undefined;
      case OP.DESTROY: return reply(unique, 0);
      case OP.LOOKUP: {
        if (node?.kind !== 'dir') return reply(unique, -ERR.ENOTDIR);
        const child = node.children.get(name(body));
        return child === undefined ? reply(unique, -ERR.ENOENT) : reply(unique, 0, entryOut(child));
      }
      case OP.GETATTR: case OP.SETATTR:
        // SETATTR comes with O_TRUNC before a write; configfs attributes have no size to truncate.
        return node ? reply(unique, 0, attrOut(nodeid)) : reply(unique, -ERR.ENOENT);
      case OP.MKDIR: {
        const entryName = name(body, 8);
        if (nodeid !== 2) return reply(unique, -ERR.EPERM);
        const dir = node as Inode & { kind: 'dir' };
        if (dir.children.has(entryName)) return reply(unique, -ERR.EEXIST);
        const ino = makeEntry(2, entryName);
        dir.children.set(entryName, ino);
        return reply(unique, 0, entryOut(ino));
      }
      case OP.RMDIR: {
        const dir = node as Inode & { kind: 'dir' } | undefined;
        const target = dir?.kind === 'dir' ? dir.children.get(name(body)) : undefined;
        if (nodeid !== 2 || target === undefined) return reply(unique, target === undefined ? -ERR.ENOENT : -ERR.EPERM);
        const item = inodes.get(target) as Inode & { kind: 'dir' };
        for (const child of item.children.values()) inodes.delete(child);
        inodes.delete(target);
        dir!.children.delete(name(body));
        return reply(unique, 0);
      }
      case OP.OPEN: case OP.OPENDIR: {
        if (!node) return reply(unique, -ERR.ENOENT);
        if (opcode === OP.OPEN && node.kind === 'dir') return reply(unique, -ERR.EISDIR);
        const out = Buffer.alloc(16);
        out.writeUInt32LE(opcode === OP.OPEN ? FOPEN_DIRECT_IO : 0, 8);
        return reply(unique, 0, out);
      }
      case OP.READ: {
        if (node?.kind !== 'file') return reply(unique, -ERR.EISDIR);
        const offset = Number(body.readBigUInt64LE(8));
        const size = body.readUInt32LE(16);
        let data: Uint8Array | number;
        try {
          data = contents(node);
        } catch {
          return reply(unique, -ERR.EINVAL);
        }
        if (typeof data === 'number') return reply(unique, data);
        return reply(unique, 0, Buffer.from(data.subarray(offset, offset + size)));
      }
      case OP.WRITE: {
        if (node?.kind !== 'file') return reply(unique, -ERR.EISDIR);
        const size = body.readUInt32LE(16);
        const data = body.subarray(40, 40 + size);
        if (node.attribute === 'inblob') {
          if (data.length > REPORT_DATA_BYTES) return reply(unique, -ERR.EINVAL);
          node.entry.inblob = new Uint8Array(data);
        } else if (node.attribute === 'privlevel') {
          const level = Number(data.toString('utf8').trim());
          if (!Number.isInteger(level) || level < 0 || level > 3) return reply(unique, -ERR.EINVAL);
          node.entry.privlevel = level;
        } else {
          return reply(unique, -ERR.EACCES);
        }
        node.entry.generation++;
        const out = Buffer.alloc(8);
        out.writeUInt32LE(size, 0);
        return reply(unique, 0, out);
      }
      case OP.READDIR: {
        if (node?.kind !== 'dir') return reply(unique, -ERR.ENOTDIR);
        const offset = Number(body.readBigUInt64LE(8));
        const size = body.readUInt32LE(16);
        const all: [string, number][] = [['.', nodeid], ['..', node.parent], ...node.children];
        const parts: Buffer[] = [];
        let length = 0;
        for (let i = offset; i < all.length; i++) {
          const [childName, ino] = all[i]!;
          const nameBytes = Buffer.from(childName);
          const recordLength = (24 + nameBytes.length + 7) & ~7;
          if (length + recordLength > size) break;
          const record = Buffer.alloc(recordLength);
          record.writeBigUInt64LE(BigInt(ino), 0);
          record.writeBigUInt64LE(BigInt(i + 1), 8);
          record.writeUInt32LE(nameBytes.length, 16);
          record.writeUInt32LE(inodes.get(ino)?.kind === 'file' ? 8 : 4, 20); // DT_REG / DT_DIR
          nameBytes.copy(record, 24);
          parts.push(record);
          length += recordLength;
        }
        return reply(unique, 0, Buffer.concat(parts));
      }
      case OP.RELEASE: case OP.RELEASEDIR: case OP.FLUSH: case OP.FSYNC: case OP.ACCESS:
        return reply(unique, 0);
      case OP.STATFS: {
        const out = Buffer.alloc(80);
        out.writeUInt32LE(4096, 40); // bsize
        out.writeUInt32LE(255, 44); // namelen
        out.writeUInt32LE(4096, 48); // frsize
        return reply(unique, 0, out);
      }
      default:
        return reply(unique, -ERR.ENOSYS);
    }
  };

  // One request at a time, read on libuv's thread pool (the read blocks until the kernel has one).
  const buffer = Buffer.alloc(1024 * 1024 + 4096);
  let served: () => void = () => {};
  const stopped = new Promise<void>((resolveStopped) => (served = resolveStopped));
  const next = () => {
    read(fd, buffer, 0, buffer.length, null, (err, bytes) => {
      if (err || closed) {
        // EPERM until mount(2) has attached the descriptor (the reads start before it, since mount(8) may
        // look at the new mount before it exits); ENODEV after unmount: the connection is gone.
        if (!closed && err?.code === 'EPERM') return void setTimeout(next, 5);
        if (!closed && err && (err.code === 'EINTR' || err.code === 'EAGAIN')) return next();
        closed = true;
        return served();
      }
      const opcode = buffer.readUInt32LE(4);
      const unique = buffer.readBigUInt64LE(8);
      const nodeid = Number(buffer.readBigUInt64LE(16));
      try {
        handle(opcode, unique, nodeid, Buffer.from(buffer.subarray(IN_HEADER, bytes)));
      } catch {
        if (opcode !== OP.FORGET && opcode !== OP.BATCH_FORGET && opcode !== OP.INTERRUPT) reply(unique, -ERR.EINVAL);
      }
      if (opcode === OP.DESTROY) {
        closed = true;
        return served();
      }
      next();
    });
  };
  next();

  try {
    // The child gets our /dev/fuse descriptor as its fd 3; mount(2) attaches the connection to it.
    await sh('mount', ['-i', '-t', 'fuse', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0,allow_other', 'chrysalis-tsm', path], fd);
  } catch (err) {
    closed = true;
    closeSync(fd);
    throw new Error(`cannot mount the simulated configfs-TSM at ${path} (needs root and /dev/fuse): ${(err as Error).message}`);
  }

  return {
    path,
    get reports() {
      return reports;
    },
    async unmount() {
      await sh('umount', [path]).catch(() => sh('umount', ['-l', path])).catch(() => undefined);
      // The pending read returns ENODEV once the connection is gone.
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000))]);
      closed = true;
      try { closeSync(fd); } catch { /* closed */ }
    },
  };
}
