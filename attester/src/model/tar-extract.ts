// Unpacks a tar archive (POSIX ustar, pax and GNU long-name headers) from a byte stream into a directory,
// for a model fetched from a mirror. Only what a model is made of comes out: regular files and
// directories, at relative paths without empty, '.' or '..' components. A link, a device, a FIFO, a path
// that would leave the directory, or a file named twice makes the whole archive invalid (fail closed):
// the archive is not trusted, and the hash is computed afterwards from what was written (tree-hash.ts).
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkTreePath, TreeDigestError } from '../../../operator/src/model/tree-digest.js';

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

const BLOCK = 512;

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else if (next.value.length) {
        this.buffered.push(Buffer.from(next.value));
        this.length += next.value.length;
      }
    }
    return this.length >= n;
  }

  /** Exactly n bytes, or undefined at the end of the stream (a short read is an error). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.length === 0) return undefined;
      throw new ArchiveError(`the archive ends in the middle of a ${n}-byte record`);
    }
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.buffered = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Passes `n` bytes to `sink` chunk by chunk, without holding them all. */
  async pipe(n: number, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.length === 0 && !(await this.fill(1))) throw new ArchiveError('the archive ends in the middle of a file');
      const head = this.buffered[0]!;
      const take = Math.min(left, head.length);
      await sink(head.subarray(0, take));
      if (take === head.length) this.buffered.shift();
      else this.buffered[0] = head.subarray(take);
      this.length -= take;
      left -= take;
    }
  }
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? length : nul).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number, what: string): number {
  const raw = header.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    // GNU base-256: big-endian after the marker bit; models bigger than 8 GiB per file need it.
    let n = 0;
    for (let i = 1; i < raw.length; i++) n = n * 256 + raw[i]!;
    if (!Number.isSafeInteger(n)) throw new ArchiveError(`the archive's ${what} is too large`);
    return n;
  }
  const text = field(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(`the archive's ${what} field "${text}" is not octal`);
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === octal(header, 148, 8, 'checksum');
}

/** pax extended header records: "<len> <key>=<value>\n". */
function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) throw new ArchiveError('a pax header record has no length');
    const len = Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > data.length) throw new ArchiveError('a pax header record has a bad length');
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw new ArchiveError('a pax header record has no "="');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** A member's name as a tree path: "./" prefixes and a trailing "/" dropped, then checked. */
function memberPath(name: string): string {
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  if (path.endsWith('/')) path = path.slice(0, -1);
  if (path.startsWith('/')) throw new ArchiveError(`the archive member ${JSON.stringify(name)} has an absolute path`);
  try {
    checkTreePath(path);
  } catch (err) {
    if (err instanceof TreeDigestError) throw new ArchiveError(`the archive member ${JSON.stringify(name)}: ${err.message}`);
    throw err;
  }
  return path;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

export async function extractTar(stream: AsyncIterable<Uint8Array>, dest: string): Promise<ExtractResult> {
  const reader = new ByteReader(stream[Symbol.asyncIterator]());
  const seen = new Set<string>();
  let files = 0;
  let bytes = 0;
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const header = await reader.read(BLOCK);
    if (!header) throw new ArchiveError('the archive ends without its end-of-archive blocks');
    if (header.every((b) => b === 0)) return { files, bytes }; // end of archive
    if (!checksumOk(header)) throw new ArchiveError('a tar header has a bad checksum (not a tar archive, or a damaged one)');
    const type = String.fromCharCode(header[156]!);
    const size = pax.has('size') ? Number(pax.get('size')) : octal(header, 124, 12, 'size');
    if (!Number.isSafeInteger(size) || size < 0) throw new ArchiveError('a tar member has a bad size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const readData = async () => {
      const data = size ? await reader.read(padded) : Buffer.alloc(0);
      if (!data) throw new ArchiveError('the archive ends in the middle of a header');
      return data.subarray(0, size);
    };
    if (type === 'x') { pax = parsePax(await readData()); continue; }
    if (type === 'g') { await readData(); continue; } // global defaults: nothing a model needs
    if (type === 'L') { longName = (await readData()).toString('utf8').replace(/\0+$/, ''); continue; }
    const prefix = header.subarray(257, 263).toString('ascii').startsWith('ustar') ? field(header, 345, 155) : '';
    const rawName = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    pax = new Map();
    longName = undefined;
    if (type === '5') {
      const path = rawName.replace(/^(\.\/)+/, '').replace(/\/$/, '');
      if (path === '' || path === '.') continue;
      await mkdir(join(dest, memberPath(rawName)), { recursive: true });
      await reader.read(padded);
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '7') {
      const what = type === '1' ? 'a hard link' : type === '2' ? 'a symbolic link' : `of type "${type}"`;
      throw new ArchiveError(`the archive member ${JSON.stringify(rawName)} is ${what}; a model archive holds regular files and directories only`);
    }
    const path = memberPath(rawName);
    if (seen.has(path)) throw new ArchiveError(`the archive holds ${path} twice`);
    seen.add(path);
    const target = join(dest, path);
    await mkdir(dirname(target), { recursive: true });
    // 'wx': never write through something already there (a directory entry made earlier, for instance).
    const fh = await open(target, 'wx', 0o444);
    try {
      await reader.pipe(size, async (chunk) => { await fh.write(chunk); });
    } finally {
      await fh.close();
    }
    if (padded > size) await reader.read(padded - size);
    files++;
    bytes += size;
  }
}
