// The chrysalis-tree-v1 digest: the root of a model's files, the `root` in the model hash
// name@commit:root. Pure: it takes each file's relative path, size and SHA-256, which the model check
// (attester/src/model/) computes by reading the files; nothing a source states about its files is used.
//
// Definition (docs/ARCHITECTURE.md says the same, with a shell one-liner that reproduces it):
//  - the tree is every regular file under the model's directory; directories count only through the
//    files in them (an empty directory changes nothing); a symbolic link, device, FIFO or socket makes the
//    tree invalid (it could point outside the checked bytes);
//  - each file's path is relative to the model's directory, components joined by '/', UTF-8; no
//    component is empty, '.' or '..', and no control character (U+0000–U+001F, U+007F) appears;
//  - files are sorted by the bytes of their UTF-8 path (what `LC_ALL=C sort` does); a path appearing
//    twice, or no file at all, makes the tree invalid;
//  - each file gives one record: path ‖ 0x00 ‖ size in decimal ASCII ‖ 0x00 ‖ SHA-256 of the contents in
//    lowercase hex ‖ 0x0A;
//  - root = lowercase hex SHA-256 of "chrysalis-tree-v1\n" followed by the records in order.
//
// A flat list, not a Merkle tree: the model check reads every byte anyway, and a list is what a platform
// team can recompute with find, sort and sha256sum.
import { createHash } from 'node:crypto';

export const TREE_DIGEST_PREFIX = 'chrysalis-tree-v1\n';

export interface TreeFile {
  /** Relative to the model's directory, '/'-separated. */
  path: string;
  /** Bytes. */
  size: number;
  /** SHA-256 of the contents, lowercase hex. */
  sha256: string;
}

export class TreeDigestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TreeDigestError';
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Throws TreeDigestError when `path` cannot be a file's path in the tree. */
export function checkTreePath(path: string): void {
  if (CONTROL.test(path)) throw new TreeDigestError(`the model file ${JSON.stringify(path)} has a control character in its name`);
  if (path.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new TreeDigestError(`the model file path ${JSON.stringify(path)} has an empty, . or .. component`);
  }
  if (Buffer.from(path, 'utf8').toString('utf8') !== path) throw new TreeDigestError(`the model file path ${JSON.stringify(path)} is not valid UTF-8`);
}

export function treeDigest(files: readonly TreeFile[]): string {
  if (files.length === 0) throw new TreeDigestError('the model has no files');
  const entries = files.map((f) => {
    checkTreePath(f.path);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new TreeDigestError(`the model file ${f.path} has size ${f.size}`);
    if (!HEX64.test(f.sha256)) throw new TreeDigestError(`the model file ${f.path} has SHA-256 "${f.sha256}", not 64 lowercase hex characters`);
    return { key: Buffer.from(f.path, 'utf8'), file: f };
  });
  entries.sort((a, b) => Buffer.compare(a.key, b.key));
  const hash = createHash('sha256').update(TREE_DIGEST_PREFIX, 'utf8');
  for (let i = 0; i < entries.length; i++) {
    const { key, file } = entries[i]!;
    if (i > 0 && Buffer.compare(entries[i - 1]!.key, key) === 0) throw new TreeDigestError(`the model file ${file.path} appears twice`);
    hash.update(key);
    hash.update(`\0${file.size}\0${file.sha256}\n`, 'utf8');
  }
  return hash.digest('hex');
}
