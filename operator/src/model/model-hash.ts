// The model hash in Cocoon's format: SHA-256 of the UTF-8 string `name@commit:root`, lowercase hex.
// name is spec.model.name, commit spec.model.revision (the empty string when absent) and root the digest
// of the model's files (tree-digest.ts) that the model check computed. Pure.
import { createHash } from 'node:crypto';

export function modelHashInput(name: string, commit: string, root: string): string {
  return `${name}@${commit}:${root}`;
}

export function modelHash(name: string, commit: string, root: string): string {
  return createHash('sha256').update(modelHashInput(name, commit, root), 'utf8').digest('hex');
}
