// Reads a model's directory and computes its chrysalis-tree-v1 root (operator/src/model/tree-digest.ts):
// every regular file is read and hashed here, so the root is computed from the bytes on disk, never taken
// from a manifest, an archive header or the source. Anything that is not a regular file or a directory
// (a symbolic link, a device, a FIFO, a socket) makes the tree invalid: a link could make the server read
// bytes this walk did not hash.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkTreePath, treeDigest, TreeDigestError, type TreeFile } from '../../../operator/src/model/tree-digest.js';

export interface TreeHash {
  root: string;
  files: TreeFile[];
  bytes: number;
}

async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

export async function hashTree(dir: string): Promise<TreeHash> {
  const top = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new TreeDigestError(`the model directory ${dir} cannot be read (${err.code ?? err.message})`);
  });
  if (!top.isDirectory()) throw new TreeDigestError(`the model directory ${dir} is not a directory`);
  const files: TreeFile[] = [];
  let bytes = 0;
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(relative ? join(dir, relative) : dir, { withFileTypes: true });
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      checkTreePath(path);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile()) {
        const { sha256, size } = await sha256File(join(dir, path));
        files.push({ path, size, sha256 });
        bytes += size;
      } else {
        const what = entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
        throw new TreeDigestError(`the model file ${path} is ${what}; a model is regular files and directories only`);
      }
    }
  };
  await walk('');
  return { root: treeDigest(files), files, bytes };
}
