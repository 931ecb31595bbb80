// `chrysalis chat` as a user runs it (a child process), against a simulated replica's RA-TLS gateway in
// this process and a fake OpenAI-compatible server on 127.0.0.1, with --endpoint, --policy-file and
// --model (no cluster): a verified replica's answer is printed with the verdict (text and -o json, plain
// and --stream); a replica whose evidence the policy refuses gives exit 1 with the reason code and the
// server behind it sees no request; bad flags give exit 2.
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { runCli } from './helpers.js';

const tee = await SimulatedTee.create({ gpus: 1 });
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

async function setup(t: { teardown(fn: () => unknown): void }) {
  const requests: string[] = [];
  const sampling: { temperature?: unknown; seed?: unknown }[] = [];
  const upstream: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean; temperature?: unknown; seed?: unknown };
    requests.push(body.model);
    sampling.push({ ...('temperature' in body ? { temperature: body.temperature } : {}), ...('seed' in body ? { seed: body.seed } : {}) });
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'streamed ' } }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'answer' }, finish_reason: 'stop' }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'an attested answer' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 3 } }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const identity = AttesterIdentity.generate();
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'pool-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const gateway = new RaTlsGateway({
    identity,
    makeEvidence: async (nonce) => {
      const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
      return bundle;
    },
    upstreamPort: (upstream.address() as AddressInfo).port,
    usage: { prepareRequest: (_path, body) => body, createUsageTap: () => ({ write() {}, end() {} }) },
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  const dir = await mkdtemp(join(tmpdir(), 'chrysalis-chat-'));
  const trusting = join(dir, 'trusting.yaml');
  const strict = join(dir, 'strict.yaml');
  await writeFile(trusting, stringify({ apiVersion: 'chrysalis.dev/v1alpha1', kind: 'AttestationPolicy', metadata: { name: 'sim' }, spec: tee.policy() }));
  await writeFile(strict, stringify({ ...tee.policy(), allowSimulated: false }));
  t.teardown(async () => {
    await gateway.close();
    upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const base = ['chat', 'pool', 'hello there', '--endpoint', `127.0.0.1:${port}`, '--model', 'tiny-model'];
  return { base, trusting, strict, requests, sampling, identity, dir };
}

test('chat prints the verdict and the answer of a verified replica (text, then -o json with --temperature and --seed, then --stream)', async (t) => {
  const s = await setup(t);
  const text = await runCli([...s.base, '--policy-file', s.trusting]);
  t.is(text.code, 0, text.stderr + text.stdout);
  t.regex(text.stdout, /^verified: {5}yes \(--endpoint at 127\.0\.0\.1:\d+\)$/m);
  t.regex(text.stdout, /^tee: {10}simulated$/m);
  t.regex(text.stdout, /^measurement: {2}[0-9a-f]{96}$/m);
  t.regex(text.stdout, /^gpus: {9}H100/m);
  t.regex(text.stdout, new RegExp(`^key: {10}${s.identity.publicKeyHex}$`, 'm'));
  t.regex(text.stdout, /^fresh: {8}answered the client nonce$/m);
  t.regex(text.stdout, /^an attested answer$/m);

  const json = await runCli([...s.base, '--policy-file', s.trusting, '-o', 'json', '--max-tokens', '5', '--temperature', '0', '--seed', '-7']);
  t.is(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { verified: boolean; verdict: { tee: string; publicKey: string }; answer: { content: string; usage: unknown }; model: string };
  t.true(doc.verified);
  t.is(doc.verdict.tee, 'simulated');
  t.is(doc.verdict.publicKey, s.identity.publicKeyHex);
  t.is(doc.answer.content, 'an attested answer');
  t.deepEqual(doc.answer.usage, { promptTokens: 3, completionTokens: 3 });

  const streamed = await runCli([...s.base, '--policy-file', s.trusting, '--stream']);
  t.is(streamed.code, 0, streamed.stderr);
  t.regex(streamed.stdout, /^streamed answer$/m);
  t.deepEqual(s.requests, ['tiny-model', 'tiny-model', 'tiny-model']);
  // Sampling is sent only when asked for: the replica's defaults otherwise.
  t.deepEqual(s.sampling, [{}, { temperature: 0, seed: -7 }, {}]);
});

test('chat refuses a replica the policy does not accept: exit 1, the reason code, and nothing sent', async (t) => {
  const s = await setup(t);
  const text = await runCli([...s.base, '--policy-file', s.strict]);
  t.is(text.code, 1, text.stderr);
  t.regex(text.stdout, /^refused: SIMULATED_NOT_ALLOWED/m);
  const json = await runCli([...s.base, '--policy-file', s.strict, '-o', 'json']);
  t.is(json.code, 1);
  t.like(JSON.parse(json.stdout), { verified: false, code: 'SIMULATED_NOT_ALLOWED' });
  t.deepEqual(s.requests, []);
});

test('chat: an unreachable endpoint is exit 1 REPLICA_UNREACHABLE; a bad --endpoint, --max-tokens, --temperature, --seed or --collateral is exit 2', async (t) => {
  const s = await setup(t);
  const closed = await runCli(['chat', 'pool', 'hi', '--endpoint', '127.0.0.1:1', '--model', 'm', '--policy-file', s.trusting]);
  t.is(closed.code, 1);
  t.regex(closed.stdout, /REPLICA_UNREACHABLE/);
  const badEndpoint = await runCli(['chat', 'pool', 'hi', '--endpoint', 'nowhere', '--model', 'm', '--policy-file', s.trusting]);
  t.is(badEndpoint.code, 2);
  t.regex(badEndpoint.stderr, /--endpoint must be host:port/);
  const badTokens = await runCli([...s.base, '--policy-file', s.trusting, '--max-tokens', '0']);
  t.is(badTokens.code, 2);
  t.regex(badTokens.stderr, /--max-tokens must be a whole number/);
  for (const bad of ['2.5', '-0.1', 'warm', '']) {
    const badTemperature = await runCli([...s.base, '--policy-file', s.trusting, '--temperature', bad]);
    t.is(badTemperature.code, 2, bad);
    t.regex(badTemperature.stderr, /--temperature must be a number from 0 to 2/, bad);
  }
  for (const bad of ['1.5', '4294967296', 'x']) {
    const badSeed = await runCli([...s.base, '--policy-file', s.trusting, '--seed', bad]);
    t.is(badSeed.code, 2, bad);
    t.regex(badSeed.stderr, /--seed must be a whole number from -2147483648 to 4294967295/, bad);
  }
  const noCollateral = await runCli([...s.base, '--policy-file', s.trusting, '--collateral', join(s.dir, 'absent')]);
  t.is(noCollateral.code, 2);
  t.regex(noCollateral.stderr, /--collateral .*absent: cannot be read/);
  const junk = join(s.dir, 'junk');
  await mkdir(junk);
  await writeFile(join(junk, 'notes.txt'), 'not collateral');
  const badCollateral = await runCli([...s.base, '--policy-file', s.trusting, '--collateral', junk]);
  t.is(badCollateral.code, 2);
  t.regex(badCollateral.stderr, /--collateral .*junk: collateral file notes\.txt is not TCB info/);
  t.deepEqual(s.requests, []);
});
