// How a replica gets its model, as Pod parts: the volume, the model check (an init container running the
// attester image in --mode model-check) and the server's read-only mount of what was checked.
//
//   pvc://<claim>[/<path>]  the claim, read-only, mounted with <path> as subPath in both the check and the
//                           server: the check hashes the files in place, the server reads the same files.
//                           A claim others can write to (ReadWriteMany) could change after the check;
//                           serve models from claims only the platform team writes (or ReadOnlyMany).
//   http(s)://…             an emptyDir the check unpacks the archive into (read-write there), mounted
//                           read-only in the server: the server reads exactly the bytes that were hashed.
//
// The check compares the hash it computed with spec.model.hash and fails the init container on a
// mismatch, so the server never starts on other bytes; its termination report names both hashes
// (model-check-report.ts) and the InferencePool controller shows it as the pool's ModelVerified condition.
import type { InferencePool } from '../api/index.js';
import { parseModelSource } from './model-source.js';
import { MODEL_MOUNT_PATH } from './server-args.js';

export const MODEL_VOLUME = 'model';
export const MODEL_CHECK_CONTAINER = 'model-check';

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

export interface ReplicaModel {
  volume: Record<string, unknown>;
  /** The model check's mount (read-write only for a fetched archive). */
  checkMount: VolumeMount;
  /** The server's mount: always read-only. */
  serverMount: VolumeMount;
  /** The attester's arguments in --mode model-check. */
  checkArgs: string[];
}

export function replicaModel(pool: InferencePool): ReplicaModel {
  const { name, source, hash, revision } = pool.spec.model;
  const parsed = parseModelSource(source);
  const checkArgs = [
    '--mode', 'model-check',
    '--model-source', source,
    '--model-dir', MODEL_MOUNT_PATH,
    '--model-name', name,
    '--model-revision', revision ?? '',
    '--expected-hash', hash,
  ];
  if (parsed.kind === 'pvc') {
    const mount: VolumeMount = { name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH, readOnly: true, ...(parsed.path ? { subPath: parsed.path } : {}) };
    return {
      volume: { name: MODEL_VOLUME, persistentVolumeClaim: { claimName: parsed.claim, readOnly: true } },
      checkMount: mount,
      serverMount: { ...mount },
      checkArgs,
    };
  }
  return {
    volume: { name: MODEL_VOLUME, emptyDir: {} },
    checkMount: { name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH },
    serverMount: { name: MODEL_VOLUME, mountPath: MODEL_MOUNT_PATH, readOnly: true },
    checkArgs,
  };
}
