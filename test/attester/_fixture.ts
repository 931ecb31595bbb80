// Shared set-up for the attester tests (not a test file: ava runs *.test.ts only).
//  - FakeTsm: a temp directory laid out like configfs TSM, with the kernel's side of the file protocol
//    emulated (mkdir populates the attributes, writing inblob bumps generation, reading outblob produces
//    the report for the current inblob) and, on request, another writer racing us mid-read.
//  - startTestService: a small HTTPS server (self-signed certificate made with the openssl CLI) that checks
//    the Bearer token and answers with scripted challenges/verdicts.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { basename, dirname, join } from 'node:path';
import type { TsmIo, TsmProvider } from '../../attester/src/cpu/tsm.js';
import { testTempDir } from '../_temp-dir.js';

export async function tempDir(prefix = 'chrysalis-attester-'): Promise<string> {
  return testTempDir(prefix);
}

export interface GeneratedReport {
  outblob: Uint8Array;
  auxblob?: Uint8Array;
}

export interface FakeTsmOptions {
  provider?: TsmProvider;
  /** What the "hardware" returns for a given inblob. */
  generate: (reportData: Uint8Array) => GeneratedReport | Promise<GeneratedReport>;
  /** How many times another writer writes its own inblob just before our outblob read. */
  races?: number;
}

function enoent(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), { code: 'ENOENT' });
}

export class FakeTsm implements TsmIo {
  readonly root: string;
  readonly provider: TsmProvider;
  reportsGenerated = 0;
  racesInjected = 0;
  entriesCreated: string[] = [];
  #racesLeft: number;
  /** generation at which each entry's outblob was last produced (the kernel caches it the same way). */
  readonly #producedAt = new Map<string, number>();

  private constructor(root: string, private readonly options: FakeTsmOptions) {
    this.root = root;
    this.provider = options.provider ?? 'sev_guest';
    this.#racesLeft = options.races ?? 0;
  }

  /** Makes `<tmp>/tsm/report`, as configfs has it once the TSM driver is loaded. */
  static async create(options: FakeTsmOptions): Promise<FakeTsm> {
    const base = await tempDir('chrysalis-tsm-');
    const root = join(base, 'tsm', 'report');
    await mkdir(root, { recursive: true });
    return new FakeTsm(root, options);
  }

  async cleanup(): Promise<void> {
    await rm(dirname(dirname(this.root)), { recursive: true, force: true });
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path);
    this.entriesCreated.push(path);
    await writeFile(join(path, 'provider'), `${this.provider}\n`);
    await writeFile(join(path, 'generation'), '0\n');
    await writeFile(join(path, 'inblob'), '');
    await writeFile(join(path, 'outblob'), '');
    if (this.provider === 'sev_guest') await writeFile(join(path, 'auxblob'), '');
  }

  async rmdir(path: string): Promise<void> {
    // configfs removes the attribute files with the directory.
    await rm(path, { recursive: true });
  }

  exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)),
    );
  }

  private async generation(entry: string): Promise<number> {
    return Number((await readFile(join(entry, 'generation'), 'utf8')).trim());
  }

  private async bump(entry: string): Promise<void> {
    await writeFile(join(entry, 'generation'), `${(await this.generation(entry)) + 1}\n`);
  }

  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    const entry = dirname(path);
    const name = basename(path);
    if (name === 'inblob') {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (bytes.length > 64) throw Object.assign(new Error('EINVAL: inblob is at most 64 bytes'), { code: 'EINVAL' });
      await writeFile(path, bytes);
      await this.bump(entry);
      return;
    }
    if (name === 'privlevel') {
      await writeFile(path, data);
      await this.bump(entry);
      return;
    }
    throw Object.assign(new Error(`EACCES: ${name} is read-only`), { code: 'EACCES' });
  }

  async readFile(path: string): Promise<Uint8Array> {
    const entry = dirname(path);
    const name = basename(path);
    if (!(await this.exists(path))) throw enoent(path);
    if (name === 'outblob' || name === 'auxblob') {
      if (name === 'outblob' && this.#racesLeft > 0) {
        // Another process writes its own report data to the same entry between our write and our read.
        this.#racesLeft--;
        this.racesInjected++;
        await writeFile(join(entry, 'inblob'), randomBytes(64));
        await this.bump(entry);
      }
      const gen = await this.generation(entry);
      if (this.#producedAt.get(entry) !== gen) {
        const inblob = new Uint8Array(await readFile(join(entry, 'inblob')));
        const padded = new Uint8Array(64);
        padded.set(inblob);
        const produced = await this.options.generate(padded);
        this.reportsGenerated++;
        await writeFile(join(entry, 'outblob'), produced.outblob);
        if (this.provider === 'sev_guest') await writeFile(join(entry, 'auxblob'), produced.auxblob ?? new Uint8Array(0));
        this.#producedAt.set(entry, gen);
      }
    }
    return new Uint8Array(await readFile(path));
  }
}

// ---------------------------------------------------------------------------------------------------

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export interface Answer { status: number; body: unknown; headers?: Record<string, string> }
export type Handler = (path: string, body: unknown, n: number) => Answer | Promise<Answer>;

export interface TestService {
  url: string;
  caFile: string;
  ca: Buffer;
  token: string;
  tokenFile: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 with a fresh self-signed certificate; 401 unless the Bearer token matches. */
export async function startTestService(handler: Handler): Promise<TestService> {
  const dir = await tempDir('chrysalis-svc-');
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=chrysalis-attestation-test',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  const token = `test-token-${randomBytes(8).toString('hex')}`;
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${token}\n`);
  const requests: RecordedRequest[] = [];
  const counts = new Map<string, number>();
  const server: Server = createServer({ key: await readFile(keyFile), cert: await readFile(caFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = req.url ?? '';
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        requests.push({ path, authorization: req.headers.authorization, body });
        let answer: Answer;
        if (req.headers.authorization !== `Bearer ${token}`) answer = { status: 401, body: { error: 'bad token' } };
        else {
          const n = (counts.get(path) ?? 0) + 1;
          counts.set(path, n);
          answer = await handler(path, body, n);
        }
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    caFile,
    ca: await readFile(caFile),
    token,
    tokenFile,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A challenge answer with a fresh random nonce valid for a minute. */
export function challengeAnswer(nonce = randomBytes(32).toString('hex')): { status: number; body: { nonce: string; expiresAt: string } } {
  return { status: 200, body: { nonce, expiresAt: new Date(Date.now() + 60_000).toISOString() } };
}
