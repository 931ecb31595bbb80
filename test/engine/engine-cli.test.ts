// The engine started as the pod builder's llama-cpp preset starts it (--model --host --port
// --served-model-name) serves that name on that address; without a loadable model it exits non-zero
// saying why, and never listens.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../dev/cluster/ports.js';
import { writeTinyModel } from './tiny-model.js';

const main = new URL('../../engine/src/main.ts', import.meta.url).pathname;

function start(args: string[]) {
  const child = spawn(process.execPath, ['--import=tsx', main, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

test('the preset\'s flags: the served name on the given host and port', async (t) => {
  const model = await writeTinyModel(2);
  const port = await freePort();
  const engine = start(['--model', model.path, '--host', '127.0.0.1', '--port', String(port), '--served-model-name', 'tiny-served']);
  try {
    let models: { data: { id: string }[] } | undefined;
    const deadline = Date.now() + 60_000;
    while (!models && Date.now() < deadline) {
      models = await fetch(`http://127.0.0.1:${port}/v1/models`).then((r) => r.json() as Promise<{ data: { id: string }[] }>, () => undefined);
      if (!models) await new Promise((r) => setTimeout(r, 200));
    }
    t.deepEqual(models?.data.map((m) => m.id), ['tiny-served'], engine.stderr());
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'tiny-served', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    t.is(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens <= 4, true);
    engine.child.kill('SIGTERM');
    t.is(await engine.exited, 0, engine.stderr());
  } finally {
    engine.child.kill('SIGKILL');
    await model.remove();
  }
});

test('a damaged model file: exit 1 naming the file, for a bad version and for a truncated model', async (t) => {
  const model = await writeTinyModel(2);
  const badVersion = join(model.path, '..', 'bad-version.gguf');
  const header = Buffer.alloc(64);
  header.write('GGUF', 0, 'latin1');
  header.writeUInt32LE(7, 4);
  await writeFile(badVersion, header);
  const truncated = join(model.path, '..', 'truncated.gguf');
  await writeFile(truncated, (await readFile(model.path)).subarray(0, 200_000));
  try {
    const versioned = start(['--model', badVersion, '--port', '0']);
    t.is(await versioned.exited, 1);
    t.regex(versioned.stderr(), /cannot load .*bad-version\.gguf: .*GGUF version 7/);
    const cut = start(['--model', truncated, '--port', '0']);
    t.is(await cut.exited, 1);
    t.regex(cut.stderr(), /cannot load .*truncated\.gguf/);
  } finally {
    await model.remove();
  }
});

test('no --model: exit 2 with the usage', async (t) => {
  const engine = start([]);
  t.is(await engine.exited, 2);
  t.regex(engine.stderr(), /--model is required/);
});
