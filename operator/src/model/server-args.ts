// The inference server's arguments, from the pool's spec (spec.runtime.server):
//
//   vllm       (default) vLLM's OpenAI-compatible server: --model <checked model> --served-model-name
//              <spec.model.name> --host 127.0.0.1 --port <spec.runtime.port> --tensor-parallel-size
//              <spec.gpusPerReplica>, then spec.runtime.args;
//   llama-cpp  an OpenAI-compatible llama.cpp server (engine/ is one): --model <checked model>/<spec.model.file>
//              (it loads one GGUF file) --host 127.0.0.1 --port <port> --served-model-name
//              <spec.model.name>, then spec.runtime.args;
//   custom     spec.runtime.args exactly as given (the CRD requires some); the server must itself load
//              the model from MODEL_MOUNT_PATH and listen on 127.0.0.1:<port>.
//
// Why loopback: the server has no TLS and no idea of attestation; the only way into a replica is through
// the attested endpoint in the replica's sidecar, which forwards to 127.0.0.1. The CRD refuses
// --host/--port/--model/--served-model-name in spec.runtime.args for the presets (last-one-wins argument
// parsers would let them override these), and this builder refuses them again (fail closed).
import type { InferencePool } from '../api/index.js';

/** Where the checked model is mounted, read-only, in the server container. */
export const MODEL_MOUNT_PATH = '/model';
export const SERVER_HOST = '127.0.0.1';
export const DEFAULT_SERVER_PORT = 8000;

export type ServerKind = 'vllm' | 'llama-cpp' | 'custom';

const RESERVED = /^--(host|port|model|served-model-name)([= ]|$)/;

export function serverKindOf(pool: InferencePool): ServerKind {
  return pool.spec.runtime.server ?? 'vllm';
}

export function serverArgs(pool: InferencePool): string[] {
  const kind = serverKindOf(pool);
  const extra = pool.spec.runtime.args ?? [];
  const port = String(pool.spec.runtime.port ?? DEFAULT_SERVER_PORT);
  if (kind === 'custom') {
    if (extra.length === 0) throw new Error('spec.runtime.args must list the server\'s arguments when spec.runtime.server is custom');
    return [...extra];
  }
  const reserved = extra.find((a) => RESERVED.test(a));
  if (reserved !== undefined) {
    throw new Error(`spec.runtime.args may not contain ${reserved.split(/[= ]/)[0]} for the ${kind} server: the operator sets it; use server custom to pass every argument yourself`);
  }
  const name = pool.spec.model.name;
  if (kind === 'llama-cpp') {
    const file = pool.spec.model.file;
    if (!file || file.split('/').some((c) => c === '' || c === '.' || c === '..')) {
      throw new Error('spec.model.file must name the GGUF file inside the model (e.g. model.gguf) when spec.runtime.server is llama-cpp');
    }
    return ['--model', `${MODEL_MOUNT_PATH}/${file}`, '--host', SERVER_HOST, '--port', port, '--served-model-name', name, ...extra];
  }
  return [
    '--model', MODEL_MOUNT_PATH,
    '--served-model-name', name,
    '--host', SERVER_HOST,
    '--port', port,
    '--tensor-parallel-size', String(pool.spec.gpusPerReplica ?? 1),
    ...extra,
  ];
}

/**
 * Environment the presets need to run as the replica's non-root user on a read-only root filesystem, and
 * to load only the mounted model: HOME (caches, configuration) on the Pod's /tmp volume; for vLLM no
 * Hugging Face Hub access (the model is the checked files, never a download) and no usage statistics
 * sent out. A variable spec.runtime.env sets is left to it. None for custom servers.
 */
export function serverEnv(pool: InferencePool): Array<{ name: string; value: string }> {
  const kind = serverKindOf(pool);
  if (kind === 'custom') return [];
  const preset = [{ name: 'HOME', value: '/tmp' }];
  if (kind === 'vllm') {
    preset.push({ name: 'HF_HUB_OFFLINE', value: '1' }, { name: 'VLLM_NO_USAGE_STATS', value: '1' }, { name: 'DO_NOT_TRACK', value: '1' });
  }
  const own = new Set((pool.spec.runtime.env ?? []).map((e) => e.name));
  return preset.filter((e) => !own.has(e.name));
}

/** vLLM's workers share tensors through /dev/shm, which a container gets only 64 MiB of by default. */
export const SHM_VOLUME = { name: 'dshm', emptyDir: { medium: 'Memory' } };
export const SHM_MOUNT = { name: 'dshm', mountPath: '/dev/shm' };

export function needsSharedMemory(pool: InferencePool): boolean {
  return serverKindOf(pool) === 'vllm';
}
