// The replica's model: an init container checks the model's hash before the server starts, the server
// mounts exactly the checked files read-only, and its arguments come from spec.runtime.server with the
// server on loopback only.
import test from 'ava';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../operator/src/config.js';
import { buildReplicaPod, SERVER_CONTAINER } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import type { InferencePool } from '../../operator/src/api/index.js';
import { MODEL_CHECK_CONTAINER } from '../../operator/src/model/model-volume.js';
import { serverArgs } from '../../operator/src/model/server-args.js';
import { MODEL_HASH, pool } from './builders.js';

const config: OperatorConfig = { ...DEFAULT_CONFIG, attesterImage: 'registry.example/attester@sha256:' + 'a'.repeat(64) };

function withModel(model: Partial<InferencePool['spec']['model']>, runtime: Partial<InferencePool['spec']['runtime']> = {}): InferencePool {
  const p = pool('llama', 1, { gpusPerReplica: 2 });
  return { ...p, spec: { ...p.spec, model: { ...p.spec.model, ...model }, runtime: { ...p.spec.runtime, args: [], ...runtime } } };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const podOf = (p: InferencePool): any => buildReplicaPod({ pool: p, index: 0, tee: 'sev-snp', config });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const named = (list: any[], name: string) => list.find((c: { name: string }) => c.name === name);

test('the model check runs first, in the attester image, with the expected hash and the hash inputs', (t) => {
  const pod = podOf(withModel({ revision: 'abc123' }));
  t.deepEqual(pod.spec.initContainers.map((c: { name: string }) => c.name), [MODEL_CHECK_CONTAINER]);
  const check = pod.spec.initContainers[0];
  t.is(check.image, config.attesterImage);
  t.deepEqual(check.args, [
    '--mode', 'model-check',
    '--model-source', 'pvc://models/llama-3.1-8b-instruct',
    '--model-dir', '/model',
    '--model-name', 'meta-llama/Llama-3.1-8B-Instruct',
    '--model-revision', 'abc123',
    '--expected-hash', MODEL_HASH,
  ]);
  t.is(check.terminationMessagePolicy, 'File');
  t.is(check.resources, undefined);
});

test('a claim is mounted read-only, at its path, in both the check and the server', (t) => {
  const pod = podOf(withModel({ source: 'pvc://models/llama/v3' }));
  t.deepEqual(named(pod.spec.volumes, 'model'), { name: 'model', persistentVolumeClaim: { claimName: 'models', readOnly: true } });
  const mount = { name: 'model', mountPath: '/model', readOnly: true, subPath: 'llama/v3' };
  t.deepEqual(named(pod.spec.initContainers[0].volumeMounts, 'model'), mount);
  t.deepEqual(named(named(pod.spec.containers, SERVER_CONTAINER).volumeMounts, 'model'), mount);
  t.false('subPath' in named(podOf(withModel({ source: 'pvc://models' })).spec.initContainers[0].volumeMounts, 'model'));
});

test('an archive is unpacked into the Pod\'s own volume, which the server mounts read-only', (t) => {
  const pod = podOf(withModel({ source: 'http://models.mirror.svc/llama.tar' }));
  t.deepEqual(named(pod.spec.volumes, 'model'), { name: 'model', emptyDir: {} });
  t.deepEqual(named(pod.spec.initContainers[0].volumeMounts, 'model'), { name: 'model', mountPath: '/model' });
  t.deepEqual(named(named(pod.spec.containers, SERVER_CONTAINER).volumeMounts, 'model'), { name: 'model', mountPath: '/model', readOnly: true });
});

test('a source the CRD would refuse is refused here too', (t) => {
  t.throws(() => podOf(withModel({ source: 'hf://meta-llama/Llama-3.1-8B-Instruct' })), { message: /spec\.model\.source .*not supported/ });
});

test('vLLM is the default server: the checked model, the served name, loopback, the port and the GPUs', (t) => {
  const p = withModel({}, { port: 9000, args: ['--max-model-len=32768'] });
  delete (p.spec.runtime as { server?: string }).server;
  t.deepEqual(named(podOf(p).spec.containers, SERVER_CONTAINER).args, [
    '--model', '/model', '--served-model-name', 'meta-llama/Llama-3.1-8B-Instruct',
    '--host', '127.0.0.1', '--port', '9000', '--tensor-parallel-size', '2', '--max-model-len=32768',
  ]);
});

test('the llama-cpp preset gets the model file, loopback, the port and the served name', (t) => {
  t.deepEqual(serverArgs(withModel({ file: 'gguf/tiny.gguf' }, { server: 'llama-cpp' })), [
    '--model', '/model/gguf/tiny.gguf', '--host', '127.0.0.1', '--port', '8000', '--served-model-name', 'meta-llama/Llama-3.1-8B-Instruct',
  ]);
  t.throws(() => serverArgs(withModel({}, { server: 'llama-cpp' })), { message: /spec\.model\.file must name the GGUF file/ });
  t.throws(() => serverArgs(withModel({ file: '../etc/passwd' }, { server: 'llama-cpp' })), { message: /spec\.model\.file/ });
});

test('the llama-cpp preset speaks the flags the engine in engine/ accepts', async (t) => {
  const { parseEngineArgs } = await import('../../engine/src/args.js');
  const parsed = parseEngineArgs(serverArgs(withModel({ file: 'tiny.gguf' }, { server: 'llama-cpp', port: 8123 })));
  t.like(parsed, { model: '/model/tiny.gguf', host: '127.0.0.1', port: 8123, servedModelName: 'meta-llama/Llama-3.1-8B-Instruct' });
});

test('a custom server gets its arguments exactly as given, and must give some', (t) => {
  t.deepEqual(serverArgs(withModel({}, { server: 'custom', args: ['serve', '--listen', '127.0.0.1:8000'] })), ['serve', '--listen', '127.0.0.1:8000']);
  t.throws(() => serverArgs(withModel({}, { server: 'custom', args: [] })), { message: /spec\.runtime\.args must list/ });
});

test('a preset refuses arguments that would move the server off loopback or off the checked model', (t) => {
  for (const arg of ['--host=0.0.0.0', '--host', '--port=1', '--model', '--served-model-name=x']) {
    t.throws(() => serverArgs(withModel({}, { server: 'vllm', args: [arg, '0.0.0.0'] })), { message: /spec\.runtime\.args may not contain --/ }, arg);
  }
  t.notThrows(() => serverArgs(withModel({}, { args: ['--hostname-check=off', '--model-len=4'] })));
});

test('the presets run as the replica user on a read-only root: HOME on /tmp, vLLM offline, without usage stats, with /dev/shm', (t) => {
  const vllm = named(podOf(withModel({}, { env: [{ name: 'DO_NOT_TRACK', value: '0' }] })).spec.containers, SERVER_CONTAINER);
  const env = Object.fromEntries(vllm.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  t.like(env, { HOME: '/tmp', HF_HUB_OFFLINE: '1', VLLM_NO_USAGE_STATS: '1', DO_NOT_TRACK: '0' });
  t.is(vllm.env.filter((e: { name: string }) => e.name === 'DO_NOT_TRACK').length, 1, 'spec.runtime.env wins, once');
  t.deepEqual(named(vllm.volumeMounts, 'dshm'), { name: 'dshm', mountPath: '/dev/shm' });
  const custom = podOf(withModel({}, { server: 'custom', args: ['serve'] }));
  const customServer = named(custom.spec.containers, SERVER_CONTAINER);
  t.false(customServer.env.some((e: { name: string }) => e.name === 'HOME' || e.name === 'HF_HUB_OFFLINE'));
  t.is(named(custom.spec.volumes, 'dshm'), undefined);
  const llama = named(podOf(withModel({ file: 'm.gguf' }, { server: 'llama-cpp' })).spec.containers, SERVER_CONTAINER);
  t.true(llama.env.some((e: { name: string; value: string }) => e.name === 'HOME' && e.value === '/tmp'));
  t.false(llama.env.some((e: { name: string }) => e.name === 'HF_HUB_OFFLINE'));
});
