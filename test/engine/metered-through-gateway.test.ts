// The engine behind the replica's RA-TLS terminator (attester/src/gateway/) with the real meter
// (attester/src/usage/): a client that verified the simulated replica (cli/src/client/) gets answers the
// real llama.cpp model generated, and the tokens metered equal the tokens the client received (±0), for a
// whole answer and a stream. All on 127.0.0.1. (A stream the client leaves early is metered up to what the
// terminator forwarded, which can be a chunk more than the client read; that is the meter's rule, tested in
// test/gateway/.) Both answers are seeded: unseeded, the random tiny model's first sampled token is now and
// then its end-of-generation token, an empty answer that shows nothing about metering.
import test from 'ava';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { OpenAIUsageMeter } from '../../attester/src/usage/openai-usage.js';
import { TokenCounter } from '../../attester/src/usage/token-counter.js';
import { chatCompletion, connectAttested } from '../../cli/src/client/index.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { createEngineServer } from '../../engine/src/http-server.js';
import { ModelRunner } from '../../engine/src/model-runner.js';
import { writeTinyModel } from './tiny-model.js';

const tee = SimulatedTee.create({ gpus: 1 });
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

let file: Awaited<ReturnType<typeof writeTinyModel>>;
let runner: ModelRunner;
let engine: Server;
let gateway: RaTlsGateway;
let gatewayPort: number;
const tokens = new TokenCounter();

test.before(async () => {
  file = await writeTinyModel(6);
  runner = await ModelRunner.load(file.path, { contextSize: 512 });
  engine = createEngineServer({ runner, servedModelName: 'tiny' });
  await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
  const identity = AttesterIdentity.generate();
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'tiny-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  gateway = new RaTlsGateway({
    identity,
    makeEvidence: async (nonce) => {
      const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
      return bundle;
    },
    upstreamPort: (engine.address() as AddressInfo).port,
    usage: new OpenAIUsageMeter(tokens),
  });
  gatewayPort = (await gateway.listen(0, '127.0.0.1')).port;
});
test.after.always(async () => {
  await gateway?.close();
  engine?.closeAllConnections();
  engine?.close();
  await runner?.close();
  await file?.remove();
});

const metered = () => tokens.snapshot();

test.serial('a verified replica answers from the model, and the metered tokens are the tokens the client received', async (t) => {
  const before = metered();
  const connection = await connectAttested({ host: '127.0.0.1', port: gatewayPort, policy: tee.policy() });
  t.teardown(() => connection.close());
  t.true(connection.verdict.verified);

  const whole = await chatCompletion(connection, { model: 'tiny', prompt: 'Tell me about moths', maxTokens: 12, seed: 1 });
  t.truthy(whole.usage);
  const pieces: string[] = [];
  const streamed = await chatCompletion(connection, { model: 'tiny', prompt: 'And about lamps', maxTokens: 9, stream: true, seed: 1 }, (p) => pieces.push(p));
  t.truthy(streamed.usage);
  t.is(pieces.join(''), streamed.content);
  t.true(streamed.usage!.completionTokens > 0);

  const after = metered();
  t.is(after.countedResponses - before.countedResponses, 2n);
  t.is(after.uncountedResponses, before.uncountedResponses);
  t.is(after.completionTokens - before.completionTokens, BigInt(whole.usage!.completionTokens + streamed.usage!.completionTokens));
  t.is(after.promptTokens - before.promptTokens, BigInt(whole.usage!.promptTokens + streamed.usage!.promptTokens));
});
