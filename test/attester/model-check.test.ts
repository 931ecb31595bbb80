// The replica's model check (`chrysalis-attester --mode model-check`): a model fetched as a tar archive
// (made here by the system's tar, plain and gzip) from a mirror on 127.0.0.1, or checked in place, passes
// only when the hash computed from its files is spec.model.hash; a tampered file fails with both hashes in
// the termination report the InferencePool controller reads; archives holding links or paths that leave
// the directory, and unreachable mirrors, fail closed.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkModel, modelCheckCommand } from '../../attester/src/model/model-check.js';
import { hashTree } from '../../attester/src/model/tree-hash.js';
import { parseModelCheckReport } from '../../operator/src/model/model-check-report.js';
import { modelHash } from '../../operator/src/model/model-hash.js';

const NAME = 'tiny/model';
const REVISION = '0e9e39f249a16976918f6564b8830bc894c89659';
const FILES = { 'config.json': '{"layers":2}\n', 'weights/model.gguf': 'GGUF fake weights', 'tokenizer.json': '{}' };

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** The expected hash the way a platform team computes it: the shell tree root, then sha256sum. */
function expectedHashOf(dir: string): string {
  const root = execFileSync('bash', ['-c', `cd "$1" && { printf 'chrysalis-tree-v1\\n'; find . -type f -printf '%P\\n' | LC_ALL=C sort | while IFS= read -r f; do printf '%s\\0%s\\0%s\\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; done; } | sha256sum | cut -d' ' -f1`, 'x', dir]).toString().trim();
  return execFileSync('sha256sum', { input: `${NAME}@${REVISION}:${root}` }).toString().split(' ')[0]!;
}

/** A mirror on 127.0.0.1 serving the given bodies by path. */
async function mirror(t: ExecutionContext, bodies: Record<string, Buffer>): Promise<string> {
  const server: Server = createServer((req, res) => {
    const body = bodies[req.url ?? ''];
    if (!body) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    // Small chunks, so headers and file data cross chunk boundaries.
    let at = 0;
    const next = () => { if (at >= body.length) { res.end(); return; } res.write(body.subarray(at, at + 700)); at += 700; setImmediate(next); };
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function tarOf(dir: string, flags: string[] = []): Buffer {
  return execFileSync('tar', ['-c', ...flags, '-C', dir, '.']);
}

test('a tar archive from the mirror is unpacked and verified against a hash computed outside the code', async (t) => {
  const src = tempDir(t, 'model-src-');
  writeTree(src, FILES);
  const expected = expectedHashOf(src);
  const base = await mirror(t, { '/tiny.tar': tarOf(src) });
  const dest = tempDir(t, 'model-dest-');
  const report = await checkModel({ source: `${base}/tiny.tar`, dir: dest, name: NAME, revision: REVISION, expectedHash: expected });
  t.like(report, { result: 'verified', hash: expected, files: 3 });
  t.is(readFileSync(join(dest, 'weights/model.gguf'), 'utf8'), FILES['weights/model.gguf']);
});

test('a gzip-compressed archive is recognised by its bytes and verified the same', async (t) => {
  const src = tempDir(t, 'model-src-');
  writeTree(src, FILES);
  const base = await mirror(t, { '/tiny.tgz': tarOf(src, ['-z']) });
  const report = await checkModel({ source: `${base}/tiny.tgz`, dir: tempDir(t, 'model-dest-'), name: NAME, revision: REVISION, expectedHash: expectedHashOf(src) });
  t.is(report.result, 'verified');
});

test('a tampered file fails with exit 1 and a termination report naming both hashes', async (t) => {
  const src = tempDir(t, 'model-src-');
  writeTree(src, FILES);
  const expected = expectedHashOf(src);
  writeFileSync(join(src, 'weights/model.gguf'), 'GGUF fake weightz');
  const tampered = expectedHashOf(src);
  const base = await mirror(t, { '/tiny.tar': tarOf(src) });
  const log = join(tempDir(t, 'model-log-'), 'termination-log');
  const lines: string[] = [];
  const code = await modelCheckCommand({ source: `${base}/tiny.tar`, dir: tempDir(t, 'model-dest-'), name: NAME, revision: REVISION, expectedHash: expected, terminationLog: log }, (l) => lines.push(l));
  t.is(code, 1);
  const report = parseModelCheckReport(readFileSync(log, 'utf8'));
  t.like(report, { result: 'mismatch', expected, computed: tampered });
  t.true(report!.message.includes(expected) && report!.message.includes(tampered));
});

test('a model on a mounted claim is checked in place, and a wrong revision is a mismatch', async (t) => {
  const dir = tempDir(t, 'model-pvc-');
  writeTree(dir, FILES);
  const expected = expectedHashOf(dir);
  t.is((await checkModel({ source: 'pvc://models/tiny', dir, name: NAME, revision: REVISION, expectedHash: expected })).result, 'verified');
  t.deepEqual(readdirSync(dir).sort(), ['config.json', 'tokenizer.json', 'weights']);
  t.like(await checkModel({ source: 'pvc://models/tiny', dir, name: NAME, revision: 'another-commit', expectedHash: expected }), { result: 'mismatch', expected });
});

test('files left in the volume by an earlier try are removed before unpacking', async (t) => {
  const src = tempDir(t, 'model-src-');
  writeTree(src, FILES);
  const base = await mirror(t, { '/tiny.tar': tarOf(src) });
  const dest = tempDir(t, 'model-dest-');
  writeTree(dest, { 'config.json': 'half written', 'stale/extra.bin': 'x' });
  t.is((await checkModel({ source: `${base}/tiny.tar`, dir: dest, name: NAME, revision: REVISION, expectedHash: expectedHashOf(src) })).result, 'verified');
});

test('an archive holding a symbolic link is refused, even when the hash would match', async (t) => {
  const src = tempDir(t, 'model-src-');
  writeTree(src, FILES);
  const expected = expectedHashOf(src);
  symlinkSync('/etc/passwd', join(src, 'escape'));
  const base = await mirror(t, { '/tiny.tar': tarOf(src) });
  t.like(await checkModel({ source: `${base}/tiny.tar`, dir: tempDir(t, 'model-dest-'), name: NAME, revision: REVISION, expectedHash: expected }),
    { result: 'failed', reason: 'ArchiveInvalid' });
});

test('an archive member that climbs out of the directory is refused', async (t) => {
  const outer = tempDir(t, 'model-src-');
  writeTree(outer, { 'inside/config.json': '{}', 'evil.bin': 'x' });
  // GNU tar keeps ../ in member names with -P; the check must not write outside --model-dir.
  const archive = execFileSync('tar', ['-c', '-P', '-C', join(outer, 'inside'), 'config.json', '../evil.bin']);
  const base = await mirror(t, { '/evil.tar': archive });
  const dest = join(tempDir(t, 'model-dest-'), 'model');
  mkdirSync(dest);
  const report = await checkModel({ source: `${base}/evil.tar`, dir: dest, name: NAME, revision: REVISION, expectedHash: 'a'.repeat(64) });
  t.like(report, { result: 'failed', reason: 'ArchiveInvalid' });
  t.deepEqual(readdirSync(join(dest, '..')), ['model']);
});

test('a mirror that answers 404, or is not there, fails with SourceUnavailable', async (t) => {
  const base = await mirror(t, {});
  t.like(await checkModel({ source: `${base}/missing.tar`, dir: tempDir(t, 'model-dest-'), name: NAME, revision: '', expectedHash: 'a'.repeat(64) }),
    { result: 'failed', reason: 'SourceUnavailable' });
  t.like(await checkModel({ source: 'http://127.0.0.1:1/model.tar', dir: tempDir(t, 'model-dest-'), name: NAME, revision: '', expectedHash: 'a'.repeat(64) }),
    { result: 'failed', reason: 'SourceUnavailable' });
});

test('something that is not a tar archive fails with ArchiveInvalid', async (t) => {
  const base = await mirror(t, { '/notes.tar': Buffer.from('x'.repeat(2048)) });
  t.like(await checkModel({ source: `${base}/notes.tar`, dir: tempDir(t, 'model-dest-'), name: NAME, revision: '', expectedHash: 'a'.repeat(64) }),
    { result: 'failed', reason: 'ArchiveInvalid' });
});

test('without an expected hash the command prints the computed root and hash', async (t) => {
  const dir = tempDir(t, 'model-local-');
  writeTree(dir, FILES);
  const lines: string[] = [];
  t.is(await modelCheckCommand({ dir, name: NAME, revision: REVISION, terminationLog: join(dir, '..', 'unused') }, (l) => lines.push(l)), 0);
  const printed = JSON.parse(lines[0]!) as { hash: string; root: string };
  t.is(printed.hash, expectedHashOf(dir));
  t.is(printed.hash, modelHash(NAME, REVISION, (await hashTree(dir)).root));
});
