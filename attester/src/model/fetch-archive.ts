// Fetches a model's tar archive (plain or gzip-compressed, told apart by its first bytes rather than by a
// header the mirror sets) from an http(s) URL and unpacks it (tar-extract.ts). Nothing the mirror says
// about the content is used; the model check hashes what was written.
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extractTar, type ExtractResult } from './tar-extract.js';

export class SourceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceUnavailableError';
  }
}

async function* withFirstChunk(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

export async function fetchArchive(url: string, dest: string, fetchImpl: typeof fetch = fetch): Promise<ExtractResult> {
  let response: Response;
  try {
    response = await fetchImpl(url, { redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new SourceUnavailableError(`GET ${url} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!response.ok || !response.body) {
    throw new SourceUnavailableError(`GET ${url} answered ${response.status} ${response.statusText}; the mirror must serve the model's tar archive there`);
  }
  const body = (response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  // The first two bytes tell gzip (1f 8b) from a plain tar; a body may arrive one byte at a time.
  const head: Buffer[] = [];
  let have = 0;
  while (have < 2) {
    const next = await body.next();
    if (next.done) break;
    head.push(Buffer.from(next.value));
    have += next.value.length;
  }
  if (have === 0) throw new SourceUnavailableError(`GET ${url} answered an empty body`);
  const first = Buffer.concat(head);
  const stream = withFirstChunk(first, body);
  const gzip = first[0] === 0x1f && first[1] === 0x8b;
  return extractTar(gzip ? Readable.from(stream).pipe(createGunzip()) : stream, dest);
}
