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
