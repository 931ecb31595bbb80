// The model check every replica runs before its server starts (`chrysalis-attester --mode model-check`,
// the replica Pod's init container): get the model's files, compute their chrysalis-tree-v1 root and the
// Cocoon model hash SHA-256(name@commit:root), and compare it with spec.model.hash. The hash is always
// computed from the bytes on disk; nothing a source states about them is believed.
//
//   pvc://   the claim is mounted read-only at --model-dir (its <path> as the mount's subPath): checked
//            in place, and the server mounts the same directory read-only;
//   http(s)  the archive is fetched and unpacked into --model-dir (the Pod's own emptyDir, emptied first,
//            so a retry never mixes old and new files), then checked; the server mounts it read-only.
//
// The outcome is written as a one-line report (operator/src/model/model-check-report.ts) to the
// termination log, where the InferencePool controller reads it, and exits 0 verified, 1 mismatch, 2 failed.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  formatModelCheckReport,
  MODEL_CHECK_EXIT,
  mismatchMessage,
  type ModelCheckFailure,
  type ModelCheckReport,
} from '../../../operator/src/model/model-check-report.js';
import { modelHash } from '../../../operator/src/model/model-hash.js';
import { ModelSourceError, parseModelSource } from '../../../operator/src/model/model-source.js';
import { TreeDigestError } from '../../../operator/src/model/tree-digest.js';
import { ArchiveError } from './tar-extract.js';
import { fetchArchive, SourceUnavailableError } from './fetch-archive.js';
import { hashTree } from './tree-hash.js';

export const DEFAULT_TERMINATION_LOG = '/dev/termination-log';

export interface ModelCheckOptions {
  /** spec.model.source; absent: check --model-dir as it is (a local copy, or a mounted claim). */
  source?: string;
  dir: string;
  name: string;
  /** spec.model.revision, '' when absent. */
  revision: string;
  /** spec.model.hash; absent: only compute and report the hash. */
  expectedHash?: string;
  fetchImpl?: typeof fetch;
}

/** What was computed, for the print-only use (no expected hash). */
export interface ComputedModelHash {
  hash: string;
  root: string;
  files: number;
  bytes: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

function failed(reason: ModelCheckFailure, message: string): ModelCheckReport {
  return { result: 'failed', reason, message };
}

function failureOf(err: unknown): ModelCheckReport {
  if (err instanceof ModelSourceError) return failed('ConfigInvalid', err.message);
  if (err instanceof SourceUnavailableError) return failed('SourceUnavailable', err.message);
  if (err instanceof ArchiveError) return failed('ArchiveInvalid', err.message);
  if (err instanceof TreeDigestError) return failed('TreeInvalid', err.message);
  const e = err as NodeJS.ErrnoException;
  return failed('SourceUnavailable', `the model could not be read or written: ${e.code ?? ''} ${e.message}`.trim());
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}

/** Gets (for an http source) and hashes the model; throws the errors failureOf maps. */
export async function computeModelHash(opts: ModelCheckOptions): Promise<ComputedModelHash> {
  if (opts.source !== undefined) {
    const source = parseModelSource(opts.source, '--model-source');
    if (source.kind === 'http') {
      await emptyDirectory(opts.dir);
      await fetchArchive(source.url, opts.dir, opts.fetchImpl);
    }
  }
  const tree = await hashTree(opts.dir);
  return { hash: modelHash(opts.name, opts.revision, tree.root), root: tree.root, files: tree.files.length, bytes: tree.bytes };
}

export async function checkModel(opts: ModelCheckOptions & { expectedHash: string }): Promise<ModelCheckReport> {
  if (!HEX64.test(opts.expectedHash)) return failed('ConfigInvalid', '--expected-hash must be 64 lowercase hex characters (spec.model.hash)');
  let computed: ComputedModelHash;
  try {
    computed = await computeModelHash(opts);
  } catch (err) {
    return failureOf(err);
  }
  const { hash, root, files, bytes } = computed;
  if (hash === opts.expectedHash) {
    return { result: 'verified', hash, root, files, bytes, message: `model verified: ${files} files, ${bytes} bytes, root ${root}, hash ${hash}` };
  }
  return { result: 'mismatch', expected: opts.expectedHash, computed: hash, root, files, bytes, message: mismatchMessage(opts.expectedHash, hash) };
}

/**
 * The command: check (or, without an expected hash, print the computed hash), write the report to the
 * termination log and answer the exit status.
 */
export async function modelCheckCommand(
  opts: ModelCheckOptions & { terminationLog: string },
  out: (line: string) => void,
): Promise<number> {
  if (opts.expectedHash === undefined) {
    try {
      out(JSON.stringify(await computeModelHash(opts)));
      return 0;
    } catch (err) {
      const report = failureOf(err);
      out(formatModelCheckReport(report));
      return MODEL_CHECK_EXIT.failed;
    }
  }
  const report = await checkModel({ ...opts, expectedHash: opts.expectedHash });
  const line = formatModelCheckReport(report);
  out(line);
  // The termination log is where the controller reads the verdict; not being able to write it is not a
  // reason to change the verdict (the exit status still says it).
  await writeFile(opts.terminationLog, line).catch((err: NodeJS.ErrnoException) => {
    out(`warning: could not write the termination log ${opts.terminationLog} (${err.code ?? err.message})`);
  });
  return MODEL_CHECK_EXIT[report.result];
}
