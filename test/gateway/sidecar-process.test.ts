// The attester process in replica mode with --https-port/--upstream-port (bin/chrysalis-attester.js, the
// simulated TEE): it serves RA-TLS in front of a fake OpenAI-compatible server on 127.0.0.1, the client
// library verifies it with a policy trusting the root the process wrote, a plain and a streamed chat
// completion come back, and the signed usage reports the process then sends carry exactly the tokens
// the client received (metering's meter is wired into the gateway). Bad flag combinations exit 2.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatCompletion, connectAttested } from '../../cli/src/client/index.js';
import { parseSignedUsageReport } from '../../operator/src/attestation/service/validate.js';
import type { SignedUsageReport } from '../../operator/src/attestation/service/protocol.js';
import { challengeAnswer, startTestService, tempDir } from '../attester/_fixture.js';

const BIN = fileURLToPath(new URL('../../attester/bin/chrysalis-attester.js', import.meta.url));

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function fakeModelServer(): Promise<{ server: Server; port: number; seen: number }> {
  const state = { seen: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    state.seen++;
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean; stream_options?: { include_usage?: boolean } };
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'two ' } }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'words' }, finish_reason: 'stop' }] })}\n\n`);
      // As vLLM does: the usage chunk only when the request asked for it (the meter makes sure it does).
      if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2 } })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'five words of plain answer' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 5 } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get seen() {
      return state.seen;
    },
  };
}

test('the replica sidecar serves RA-TLS, forwards verified requests, and its usage reports carry the tokens the client received', async (t) => {
  const usage: SignedUsageReport[] = [];
  const svc = await startTestService((path, body) => {
    if (path === '/v1/challenge') return challengeAnswer();
    if (path === '/v1/evidence') return { status: 200, body: { verified: true, reasons: [], expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
    usage.push(parseSignedUsageReport(body));
    return { status: 200, body: { accepted: true, reasons: [] } };
  });
  t.teardown(() => svc.close());
  const upstream = await fakeModelServer();
  t.teardown(() => upstream.server.close());
  const dir = await tempDir();
  const rootFile = join(dir, 'root.pem');
  const httpsPort = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, '--mode', 'replica', '--tee', 'simulated', '--gpu', 'simulated', '--simulated-root-out', rootFile, '--service', svc.url, '--ca', svc.caFile, '--token-file', svc.tokenFile,
      '--usage-interval', '1', '--https-port', String(httpsPort), '--upstream-port', String(upstream.port)],
    { env: { ...process.env, POD_NAMESPACE: 'team-a', POD_NAME: 'llama-0', CHRYSALIS_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
    for (let i = 0; i < 600; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.fail(`timed out waiting for ${what}; stderr: ${stderr}`);
  };
  await until(() => usage.length >= 1, 'the first usage report');
  const policy = { trustedRoots: [await readFile(rootFile, 'utf8')], allowSimulated: true };
  let connection: Awaited<ReturnType<typeof connectAttested>> | undefined;
  await until(async () => {
    connection = await connectAttested({ host: '127.0.0.1', port: httpsPort, policy }).catch(() => undefined);
    return connection !== undefined;
  }, 'the RA-TLS endpoint');
  t.true(connection!.verdict.verified);
  t.is(connection!.verdict.tee, 'simulated');
  const plain = await chatCompletion(connection!, { model: 'm', prompt: 'hi' });
  const streamed = await chatCompletion(connection!, { model: 'm', prompt: 'hi', stream: true });
  connection!.close();
  t.is(plain.content, 'five words of plain answer');
  t.is(streamed.content, 'two words');
  t.is(upstream.seen, 2);
  const received = { prompt: plain.usage!.promptTokens + streamed.usage!.promptTokens, completion: plain.usage!.completionTokens + streamed.usage!.completionTokens };
  t.deepEqual(received, { prompt: 18, completion: 7 });
  await until(() => usage.some((u) => u.report.counters.promptTokens === '18'), 'a usage report with the tokens served');
  const last = usage.find((u) => u.report.counters.promptTokens === '18')!;
  t.is(last.report.counters.generationTokens, '7');
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});

for (const [what, args, pattern] of [
  ['--https-port without --upstream-port', ['--mode', 'replica', '--https-port', '8443'], /--https-port and --upstream-port go together/],
  ['--https-port in node mode', ['--mode', 'node', '--node-name', 'n', '--https-port', '8443', '--upstream-port', '8000'], /--https-port is for replica mode/],
] as const) {
  test(`${what} exits 2 naming the fix`, async (t) => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args, '--tee', 'simulated', '--gpu', 'none', '--service', 'https://127.0.0.1:9'], { env: { ...process.env, POD_NAMESPACE: 'a', POD_NAME: 'b' }, timeout: 60_000 }, (err, _stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
      });
    });
    t.is(r.code, 2);
    t.regex(r.stderr, pattern);
  });
}
