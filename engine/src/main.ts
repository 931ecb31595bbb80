// `chrysalis-engine`: an OpenAI-compatible inference server on llama.cpp (node-llama-cpp's prebuilt CPU
// build) — the `llama-cpp` server of an InferencePool, and the real model server in the tests.
// Loads the model first, then listens: a connection accepted means the model is ready.
import { parseEngineArgs } from './args.js';
import { createEngineServer } from './http-server.js';
import { ModelRunner } from './model-runner.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

let args;
try {
  args = parseEngineArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}

let runner: ModelRunner;
try {
  runner = await ModelRunner.load(args.model, { contextSize: args.contextSize, threads: args.threads });
} catch (err) {
  log(`cannot load ${args.model}: ${(err as Error).message}`);
  process.exit(1);
}
const server = createEngineServer({ runner, servedModelName: args.servedModelName, log });
server.on('error', (err) => {
  log(`cannot listen on ${args.host}:${args.port}: ${err.message}`);
  process.exit(1);
});
server.listen(args.port, args.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : args.port;
  log(`serving ${args.servedModelName} (${args.model}, context ${runner.contextSize} tokens) on http://${args.host}:${port}`);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    void runner.close().finally(() => process.exit(0));
  });
}
