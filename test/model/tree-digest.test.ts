// The chrysalis-tree-v1 root of a model's files. The reference is the shell definition in
// docs/ARCHITECTURE.md (find, LC_ALL=C sort, stat, sha256sum), run here on the same directory, so the
// expected roots are computed outside the code under test; one is also written out by hand.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree } from '../../attester/src/model/tree-hash.js';
import { treeDigest, TreeDigestError } from '../../operator/src/model/tree-digest.js';

/** The definition as a platform team would run it (docs/ARCHITECTURE.md). */
const SHELL_ROOT = `cd "$1" && { printf 'chrysalis-tree-v1\\n'; find . -type f -printf '%P\\n' | LC_ALL=C sort | while IFS= read -r f; do printf '%s\\0%s\\0%s\\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; done; } | sha256sum | cut -d' ' -f1`;

function shellRoot(dir: string): string {
  return execFileSync('bash', ['-c', SHELL_ROOT, 'root', dir]).toString().trim();
}

function tree(t: { teardown: (fn: () => void) => void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-tree-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

test('the root of a small tree, written out by hand and recomputed by the shell definition', async (t) => {
  const dir = tree(t, { 'config.json': '{}\n', 'weights/part-1.bin': 'abc' });
  // sha256("{}\n") = ca3d163b…, sha256("abc") = ba7816bf…; records in byte order of the paths.
  const listing = 'chrysalis-tree-v1\n'
    + 'config.json\u00003\u0000ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356\n'
    + 'weights/part-1.bin\u00003\u0000ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n';
  const byHand = execFileSync('sha256sum', { input: listing }).toString().split(' ')[0]!;
  t.is(shellRoot(dir), byHand);
  const computed = await hashTree(dir);
  t.is(computed.root, byHand);
  t.is(computed.bytes, 6);
  t.deepEqual(computed.files.map((f) => f.path).sort(), ['config.json', 'weights/part-1.bin']);
});

test('paths sort by their UTF-8 bytes, not by JavaScript string order', async (t) => {
  // '-' (0x2d) sorts before '/' (0x2f); U+FF5E (EF BD 9E) before U+1F600 (F0 9F 98 80), which UTF-16
  // code-unit order would reverse; capitals before lower case.
  const dir = tree(t, { 'a-b': '1', 'a/b': '2', '\uFF5E.txt': '3', '\u{1F600}.txt': '4', 'B': '5', 'a.bin': '' });
  t.is((await hashTree(dir)).root, shellRoot(dir));
});

test('a changed byte, a renamed file or an added empty file changes the root', async (t) => {
  const base = (await hashTree(tree(t, { 'model.gguf': 'weights', 'tokenizer.json': '{}' }))).root;
  t.not((await hashTree(tree(t, { 'model.gguf': 'weightz', 'tokenizer.json': '{}' }))).root, base);
  t.not((await hashTree(tree(t, { 'model2.gguf': 'weights', 'tokenizer.json': '{}' }))).root, base);
  t.not((await hashTree(tree(t, { 'model.gguf': 'weights', 'tokenizer.json': '{}', 'extra': '' }))).root, base);
});

test('an empty directory adds nothing; the order files are listed in does not matter', async (t) => {
  const dir = tree(t, { 'x/y': 'z' });
  const root = (await hashTree(dir)).root;
  mkdirSync(join(dir, 'empty'));
  t.is((await hashTree(dir)).root, root);
  const files = [{ path: 'b', size: 1, sha256: 'a'.repeat(64) }, { path: 'a', size: 2, sha256: 'b'.repeat(64) }];
  t.is(treeDigest(files), treeDigest([...files].reverse()));
});

test('a symbolic link makes the tree invalid, even one pointing inside it', async (t) => {
  const dir = tree(t, { 'model.gguf': 'w' });
  symlinkSync('model.gguf', join(dir, 'alias.gguf'));
  await t.throwsAsync(hashTree(dir), { instanceOf: TreeDigestError, message: /alias\.gguf is a symbolic link/ });
});

test('no files, a duplicate path, a .. component or a bad hash are refused', (t) => {
  t.throws(() => treeDigest([]), { message: /no files/ });
  const f = { path: 'a', size: 1, sha256: 'a'.repeat(64) };
  t.throws(() => treeDigest([f, f]), { message: /appears twice/ });
  t.throws(() => treeDigest([{ ...f, path: 'x/../a' }]), { message: /\.\. component/ });
  t.throws(() => treeDigest([{ ...f, path: 'a\nb' }]), { message: /control character/ });
  t.throws(() => treeDigest([{ ...f, sha256: 'A'.repeat(64) }]), { message: /64 lowercase hex/ });
});

test('an empty model directory is refused', async (t) => {
  await t.throwsAsync(hashTree(tree(t, {})), { instanceOf: TreeDigestError, message: /no files/ });
});
