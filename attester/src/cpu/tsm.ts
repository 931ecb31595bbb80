// CPU TEE evidence through the Linux configfs TSM report interface, which serves SEV-SNP (provider
// `sev_guest`) and TDX (`tdx_guest`) guests alike. The file protocol (kernel
// Documentation/ABI/testing/configfs-tsm):
//
//   mkdir <root>/<name>            the kernel creates the entry's attribute files
//   privlevel    (WO, optional)    SNP: the VMPL to request the report at
//   inblob       (WO)              up to 64 bytes of report data (we always write exactly 64)
//   outblob      (RO)              the SNP report or the TDX quote for the current inblob
//   auxblob      (RO)              SNP: the certificate table (see cert-table.ts); absent/empty on TDX
//   provider     (RO)              "sev_guest" | "tdx_guest"
//   generation   (RO)              incremented by every write to inblob or an option; reading it before
//                                  the write and after the reads tells whether another writer raced us
//   rmdir <root>/<name>            releases the entry
//
// A report is only trusted if nobody wrote to the entry between our inblob write and our last read;
// otherwise the outblob could carry someone else's report_data, so we start over (a bounded number of
// times). The entry is always removed, also on failure.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttesterError } from '../errors.js';

export const DEFAULT_TSM_ROOT = '/sys/kernel/config/tsm/report';
export const REPORT_DATA_BYTES = 64;

export type TsmProvider = 'sev_guest' | 'tdx_guest';

/** The file operations the TSM client needs; node:fs by default, an emulation of the kernel's side in tests. */
export interface TsmIo {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  /** Whether a file or directory exists (false on ENOENT, throws on anything else). */
  exists(path: string): Promise<boolean>;
}

export const nodeTsmIo: TsmIo = {
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  readFile: async (path) => new Uint8Array(await readFile(path)),
  writeFile: (path, data) => writeFile(path, data),
  exists: async (path) => {
    try {
      await stat(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  },
};

export interface TsmReport {
  provider: TsmProvider;
  /** The SNP attestation report or the TDX quote. */
  outblob: Uint8Array;
  /** SNP certificate table; empty when the provider returns none. */
  auxblob: Uint8Array;
  /** How many tries it took (1 unless another writer raced us). */
  attempts: number;
}

export interface TsmOptions {
  /** The `report` directory of configfs TSM (default /sys/kernel/config/tsm/report). */
  root?: string;
  io?: TsmIo;
  /** SNP only: VMPL to ask for (written to `privlevel`). Left unset, the kernel's default applies. */
  privlevel?: number;
  /** Tries before giving up when other writers keep racing us (default 5). */
  maxAttempts?: number;
  /** Entry name; a fresh random one by default so concurrent attesters never share an entry. */
  entryName?: string;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Where report_data sits in the outblob, so we can check the report is really for our inblob. */
function reportDataOffset(provider: TsmProvider, outblob: Uint8Array): number | undefined {
  if (provider === 'sev_guest') return 0x50; // SNP ABI spec, ATTESTATION_REPORT: REPORT_DATA at 0x50
  // TDX quote: 48-byte header; v4 body starts right after it, v5 after a 6-byte body descriptor
  // (type u16, size u32). REPORTDATA is 520 bytes into the TD report body (Intel TDX DCAP quote layout).
  if (outblob.length < 2) return undefined;
  const version = outblob[0]! | (outblob[1]! << 8);
  if (version === 4) return 48 + 520;
  if (version === 5) return 48 + 6 + 520;
  return undefined;
}

async function readText(io: TsmIo, path: string): Promise<string> {
  return Buffer.from(await io.readFile(path)).toString('utf8').trim();
}

async function readGeneration(io: TsmIo, path: string): Promise<bigint> {
  const text = await readText(io, path);
  if (!/^\d+$/.test(text)) throw new AttesterError('TSM_FAILED', `${path} holds "${text.slice(0, 40)}", not a generation number`);
  return BigInt(text);
}

/** Explains, in one line, why there is no TSM and what the kernel would need. */
async function unavailableMessage(io: TsmIo, root: string): Promise<string> {
  const devices = [];
  for (const dev of ['/dev/sev-guest', '/dev/tdx_guest']) if (await io.exists(dev).catch(() => false)) devices.push(dev);
  const legacy = devices.length
    ? ` (${devices.join(' and ')} exist${devices.length === 1 ? 's' : ''}, but their ioctl interface needs native code, which this attester deliberately does not use)`
    : '';
  return `this kernel does not offer configfs TSM reports: ${root} does not exist${legacy}; use Linux 6.7 or newer with CONFIG_TSM_REPORTS and the sev-guest or tdx-guest driver loaded, with configfs mounted at /sys/kernel/config (or pass --tsm-root)`;
}

/** Throws TSM_UNAVAILABLE (one line saying what the kernel lacks) unless the TSM report directory exists. */
export async function requireTsm(options: Pick<TsmOptions, 'root' | 'io'> = {}): Promise<void> {
  const root = options.root ?? DEFAULT_TSM_ROOT;
  const io = options.io ?? nodeTsmIo;
  if (!(await io.exists(root))) throw new AttesterError('TSM_UNAVAILABLE', await unavailableMessage(io, root));
}

/**
 * Produces one CPU report whose report_data is `reportData` (exactly 64 bytes) through configfs TSM.
 * Throws TSM_UNAVAILABLE when the interface is missing and TSM_FAILED for every other failure.
 */
export async function tsmReport(reportData: Uint8Array, options: TsmOptions = {}): Promise<TsmReport> {
  const root = options.root ?? DEFAULT_TSM_ROOT;
  const io = options.io ?? nodeTsmIo;
  const maxAttempts = options.maxAttempts ?? 5;
  if (reportData.length !== REPORT_DATA_BYTES) {
    throw new AttesterError('TSM_FAILED', `report_data must be ${REPORT_DATA_BYTES} bytes, got ${reportData.length}`);
  }
  await requireTsm({ root, io });

  const entry = join(root, options.entryName ?? `chrysalis-${randomUUID()}`);
  try {
    await io.mkdir(entry);
  } catch (err) {
    const code = errno(err);
    const hint = code === 'EACCES' || code === 'EPERM' ? ' (creating TSM entries needs root or CAP_SYS_ADMIN in the guest)' : '';
    throw new AttesterError('TSM_FAILED', `cannot create TSM entry ${entry}: ${(err as Error).message}${hint}`, { cause: err });
  }
  try {
    const providerText = await readText(io, join(entry, 'provider'));
    if (providerText !== 'sev_guest' && providerText !== 'tdx_guest') {
      throw new AttesterError('TSM_FAILED', `TSM provider "${providerText}" is not supported (expected sev_guest or tdx_guest)`);
    }
    const provider: TsmProvider = providerText;
    if (options.privlevel !== undefined) {
      if (provider !== 'sev_guest') throw new AttesterError('TSM_FAILED', `privlevel applies to sev_guest only, the provider is ${provider}`);
      await io.writeFile(join(entry, 'privlevel'), `${options.privlevel}\n`);
    }

    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const before = await readGeneration(io, join(entry, 'generation'));
      await io.writeFile(join(entry, 'inblob'), reportData);
      const written = await readGeneration(io, join(entry, 'generation'));
      // Our write is exactly one increment; more means someone else wrote too.
      if (written !== before + 1n) continue;
      const outblob = await io.readFile(join(entry, 'outblob'));
      let auxblob: Uint8Array = new Uint8Array(0);
      if (provider === 'sev_guest') {
        try {
          auxblob = await io.readFile(join(entry, 'auxblob'));
        } catch (err) {
          // No certificates from the host is allowed (the VCEK can be fetched from AMD KDS instead).
          if (errno(err) !== 'ENOENT' && errno(err) !== 'EOPNOTSUPP' && errno(err) !== 'ENOTSUP') throw err;
        }
      }
      const after = await readGeneration(io, join(entry, 'generation'));
      if (after !== written) continue;
      if (outblob.length === 0) throw new AttesterError('TSM_FAILED', `TSM ${provider} returned an empty outblob`);
      const at = reportDataOffset(provider, outblob);
      if (at === undefined || outblob.length < at + REPORT_DATA_BYTES) {
        throw new AttesterError('TSM_FAILED', `TSM ${provider} outblob (${outblob.length} bytes) is not a report this attester understands`);
      }
      if (!Buffer.from(outblob.subarray(at, at + REPORT_DATA_BYTES)).equals(Buffer.from(reportData))) continue;
      return { provider, outblob, auxblob, attempts: attempt };
    }
    throw new AttesterError('TSM_FAILED', `another writer changed TSM entry ${entry} during each of ${maxAttempts} attempts`, { transient: true });
  } catch (err) {
    if (err instanceof AttesterError) throw err;
    throw new AttesterError('TSM_FAILED', `TSM entry ${entry}: ${(err as Error).message}`, { cause: err });
  } finally {
    await io.rmdir(entry).catch(() => undefined);
  }
}
