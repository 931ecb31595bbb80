// The engine-cpu image, built here (scripts/build-images.sh), serves the tiny llama the test writes:
// started by testcontainers with the llama-cpp preset's flags, it answers a chat completion and a
// streamed one over HTTP, as uid/gid 65532 with no shell, and carries no CUDA or Vulkan build.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';
import { delay } from '../../dev/cluster/managed-process.js';
import { freePort } from '../../dev/cluster/ports.js';
import { readEventStream } from '../engine/sse-client.js';
import { localImages, startPodmanService, type PodmanService } from './podman-service.js';

let podman: PodmanService;
let image: string;
let dir: string;
let container: StartedTestContainer | undefined;
let base: string;

test.before(async () => {
  image = (await localImages()).engineCpu;
  podman = await startPodmanService();
  dir = await mkdtemp(join(tmpdir(), 'chrysalis-engine-image-'));
  const model = join(dir, 'tiny.gguf');
  await writeFile(model, tinyLlamaGguf(4));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Host networking: the engine listens on the host's loopback, as it does beside the RA-TLS terminator
  // in a replica Pod.
  container = await new GenericContainer(image)
    .withNetworkMode('host')
    .withCopyFilesToContainer([{ source: model, target: '/tmp/models/tiny.gguf', mode: 0o444 }])
    .withCommand(['--model', '/tmp/models/tiny.gguf', '--host', '127.0.0.1', '--port', String(port), '--served-model-name', 'tiny'])
    .start();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const up = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error('the engine image did not answer /health within 120 s');
    await delay(300);
  }
});
test.after.always(async () => {
  await container?.stop({ remove: true, timeout: 5_000 }).catch(() => undefined);
  await podman?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const chat = (body: object) =>
  fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hello there' }], ...body }) });

test('the image answers a chat completion over HTTP', async (t) => {
  const res = await chat({ max_tokens: 8, seed: 5 });
  t.is(res.status, 200);
  const body = (await res.json()) as { choices: { message: { role: string; content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } };
  t.is(body.choices[0]!.message.role, 'assistant');
  t.true(body.usage.prompt_tokens > 0);
  t.true(body.usage.completion_tokens > 0 && body.usage.completion_tokens <= 8);
});

test('the image streams a chat completion: one chunk per counted token, then usage and [DONE]', async (t) => {
  const { events, done } = await readEventStream(await chat({ max_tokens: 8, seed: 6, stream: true, stream_options: { include_usage: true } }));
  t.true(done);
  const tokenChunks = events.filter((e) => (e.choices as { finish_reason: unknown }[])[0]?.finish_reason === null);
  const usage = events.at(-1)!.usage as { completion_tokens: number };
  t.is(tokenChunks.length, usage.completion_tokens);
});

test('the engine runs as uid/gid 65532 with no shell, and the image holds only the CPU build', async (t) => {
  const who = await container!.exec(['/nodejs/bin/node', '-p', '`${process.getuid()}:${process.getgid()}`']);
  t.is(who.output.trim(), '65532:65532');
  const shell = await container!.exec(['/bin/sh', '-c', 'true']).catch((err: Error) => ({ exitCode: -1, output: err.message }));
  t.not(shell.exitCode, 0, 'the runtime image has no shell');
  const builds = await container!.exec(['/nodejs/bin/node', '-p', 'require("fs").readdirSync("/app/node_modules/@node-llama-cpp").join(",")']);
  t.is(builds.output.trim(), `linux-${process.arch === 'arm' ? 'armv7l' : process.arch}`);
});
