// The attester as a process (bin/chrysalis-attester.js): --once exit codes against a local HTTPS service
// that verifies with the project's verifier, --print output, and one-line errors for unusable setups.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpsTransport } from '../../attester/src/transport.js';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { canonicalJson, type EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { parseEvidenceRequest, parseSignedUsageReport } from '../../operator/src/attestation/service/validate.js';
import { challengeAnswer, startTestService, tempDir } from './_fixture.js';

const BIN = fileURLToPath(new URL('../../attester/bin/chrysalis-attester.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'error', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A service that issues nonces and verifies evidence with verifyEvidenceBundle, trusting the simulated root
 * the attester process wrote with --simulated-root-out (read when the evidence arrives).
 */
async function verifyingService(rootFile: string, policyExtra: Record<string, unknown> = {}) {
  const issued = new Map<string, Buffer>();
  return startTestService(async (path, body) => {
    if (path === '/v1/challenge') {
      const nonce = randomBytes(32);
      issued.set(nonce.toString('hex'), nonce);
      return challengeAnswer(nonce.toString('hex'));
    }
    const { subject: _s, ...bundle } = parseEvidenceRequest(body);
    const nonce = issued.get(bundle.nonce);
    if (!nonce) return { status: 200, body: { verified: false, reasons: [{ code: 'NONCE_MISMATCH', message: 'unknown nonce' }] } };
    issued.delete(bundle.nonce);
    const rootPem = await readFile(rootFile, 'utf8');
    const v = verifyEvidenceBundle(bundle, { nonce, policy: { trustedRoots: [rootPem], allowSimulated: true, ...policyExtra }, now: new Date() });
    return { status: 200, body: { verified: v.verified, reasons: v.reasons, ...(v.verified ? { expiresAt: new Date(Date.now() + 3_600_000).toISOString() } : {}) } };
  });
}

test('--once with the simulated TEE exits 0 when the service verifies the evidence', async (t) => {
  const dir = await tempDir();
  const rootFile = join(dir, 'root.pem');
  const svc = await verifyingService(rootFile);
  t.teardown(() => svc.close());
  const r = await run(
    ['--once', '--tee', 'simulated', '--gpu', 'simulated', '--simulated-gpus', '2', '--simulated-root-out', rootFile, '--service', svc.url, '--ca', svc.caFile, '--token-file', svc.tokenFile],
    { NODE_NAME: 'gpu-node-1' },
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^verified: node gpu-node-1 until \S+ \(key [0-9a-f]{64}\)\n$/);
  const evidence = svc.requests.find((q) => q.path === '/v1/evidence')!.body as EvidenceRequest;
  t.deepEqual(evidence.subject, { kind: 'node', nodeName: 'gpu-node-1' });
  t.is(evidence.gpus.length, 2);
  t.true(svc.requests.every((q) => q.authorization === `Bearer ${svc.token}`));
});

test('--once in replica mode exits 1 and prints the reasons when the service rejects the evidence', async (t) => {
  const dir = await tempDir();
  const rootFile = join(dir, 'root.pem');
  // A policy that allows no measurement the simulated guest has.
  const svc = await verifyingService(rootFile, { allowedMeasurements: ['00'.repeat(48)] });
  t.teardown(() => svc.close());
  const r = await run(
    ['--once', '--mode', 'replica', '--tee', 'simulated', '--gpu', 'simulated', '--simulated-root-out', rootFile, '--service', svc.url, '--ca', svc.caFile, '--token-file', svc.tokenFile],
    { POD_NAMESPACE: 'team-a', POD_NAME: 'llama-0' },
  );
  t.is(r.code, 1, r.stderr);
  t.regex(r.stdout, /^rejected: \d+ reason\(s\)\n {2}MEASUREMENT_NOT_ALLOWED: /);
  t.deepEqual((svc.requests.find((q) => q.path === '/v1/evidence')!.body as EvidenceRequest).subject, { kind: 'replica', namespace: 'team-a', pod: 'llama-0' });
});

test('--once retries a 503 from the service and then succeeds', async (t) => {
  const dir = await tempDir();
  const rootFile = join(dir, 'root.pem');
  const inner = await verifyingService(rootFile);
  t.teardown(() => inner.close());
  // Put a flaky front in: the first challenge is answered 503 (the service is starting).
  let first = true;
  const svc = await startTestService(async (path, body) => {
    if (path === '/v1/challenge' && first) {
      first = false;
      return { status: 503, body: { error: 'starting' } };
    }
    return fetchVia(inner, path, body);
  });
  t.teardown(() => svc.close());
  const r = await run(
    ['--once', '--tee', 'simulated', '--gpu', 'none', '--simulated-root-out', rootFile, '--service', svc.url, '--ca', svc.caFile, '--token-file', svc.tokenFile, '--node-name', 'n1'],
    { CHRYSALIS_LOG_LEVEL: 'warn' },
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /retrying/);
  t.is(svc.requests.filter((q) => q.path === '/v1/challenge').length, 2);
});

/** Forwards a request to another test service (with its token and CA). */
async function fetchVia(target: Awaited<ReturnType<typeof startTestService>>, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const transport = new HttpsTransport({ serviceUrl: target.url, ca: target.ca, token: async () => target.token });
  if (path === '/v1/challenge') return { status: 200, body: await transport.challenge(body as never) };
  return { status: 200, body: await transport.evidence(body as never) };
}

test('--print writes the EvidenceRequest for --nonce to stdout and sends nothing', async (t) => {
  const nonce = randomBytes(32).toString('hex');
  const r = await run(['--print', '--nonce', nonce, '--tee', 'simulated', '--gpu', 'simulated', '--node-name', 'gpu-2']);
  t.is(r.code, 0, r.stderr);
  const request = JSON.parse(r.stdout) as EvidenceRequest;
  t.is(request.nonce, nonce);
  t.deepEqual(request.subject, { kind: 'node', nodeName: 'gpu-2' });
  t.regex(request.publicKey, /^[0-9a-f]{64}$/);
  t.is(request.cpu.type, 'simulated');
  t.is(request.gpus.length, 1);
});

for (const [what, args, env, pattern] of [
  ['--print without --nonce', ['--print', '--tee', 'simulated', '--gpu', 'none', '--node-name', 'n'], {}, /^error: CONFIG_INVALID: --print needs --nonce/],
  ['a malformed --nonce', ['--print', '--nonce', 'xyz', '--tee', 'simulated', '--gpu', 'none', '--node-name', 'n'], {}, /^error: CONFIG_INVALID: --nonce must be 32 bytes of hex/],
  ['no NODE_NAME in node mode', ['--once', '--gpu', 'none', '--service', 'https://127.0.0.1:9'], { NODE_NAME: '' }, /^error: CONFIG_INVALID: NODE_NAME is not set/],
  ['a kernel without configfs TSM', ['--once', '--gpu', 'none', '--tsm-root', '/nonexistent/tsm/report', '--node-name', 'n', '--service', 'https://127.0.0.1:9'], {}, /^error: TSM_UNAVAILABLE: this kernel does not offer configfs TSM reports/],
  ['a host without libnvidia-ml.so', ['--once', '--nvml-lib', '/nonexistent/libnvidia-ml.so.1', '--node-name', 'n', '--service', 'https://127.0.0.1:9'], {}, /^error: NVML_UNAVAILABLE: /],
  ['a missing token file', ['--once', '--tee', 'simulated', '--gpu', 'none', '--node-name', 'n', '--service', 'https://127.0.0.1:9', '--token-file', '/nonexistent/token'], {}, /^error: TOKEN_UNAVAILABLE: .*\/nonexistent\/token/],
  ['an http:// service', ['--once', '--tee', 'simulated', '--gpu', 'none', '--node-name', 'n', '--service', 'http://127.0.0.1:9'], {}, /^error: CONFIG_INVALID: --service must be an https:\/\/ URL/],
  ['an unknown flag', ['--frobnicate'], {}, /unknown option '--frobnicate'/],
  // Tokens are counted where the client's TLS ends; the inference server's /metrics are no longer read.
  ['the removed --metrics-url', ['--mode', 'replica', '--metrics-url', 'http://127.0.0.1:9/metrics'], {}, /unknown option '--metrics-url'/],
] as const) {
  test(`${what} exits 2 with one line naming the fix`, async (t) => {
    const r = await run([...args], { ...env });
    t.is(r.code, 2);
    t.regex(r.stderr, pattern);
    if (!r.stderr.includes('--help')) t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.is(r.stdout, '');
  });
}

test('as a replica sidecar daemon it attests, sends signed usage reports, re-attests on SIGHUP, and on SIGTERM reports once more and exits 0', async (t) => {
  const evidence: EvidenceRequest[] = [];
  const usage: unknown[] = [];
  const svc = await startTestService((path, body) => {
    // The service's own request validators must accept what the attester sends.
    if (path === '/v1/challenge') return challengeAnswer();
    if (path === '/v1/evidence') {
      evidence.push(parseEvidenceRequest(body));
      return { status: 200, body: { verified: true, reasons: [], expiresAt: new Date(Date.now() + 3_600_000).toISOString() } };
    }
    usage.push(parseSignedUsageReport(body));
    return { status: 200, body: { accepted: true, reasons: [] } };
  });
  t.teardown(() => svc.close());
  const child = spawn(
    process.execPath,
    [BIN, '--mode', 'replica', '--tee', 'simulated', '--gpu', 'simulated', '--service', svc.url, '--ca', svc.caFile, '--token-file', svc.tokenFile,
      // No traffic passes this sidecar, so without --idle-report-interval 0 it would report once, then every ten minutes.
      '--usage-interval', '1', '--idle-report-interval', '0', '--gpus', '2'],
    { env: { ...process.env, POD_NAMESPACE: 'team-a', POD_NAME: 'llama-0', CHRYSALIS_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!cond()) t.fail(`timed out waiting for ${what}; stderr: ${stderr}`);
  };
  await until(() => usage.length >= 3, 'three usage reports (replica mode reports without any --metrics-url)');
  child.kill('SIGHUP');
  await until(() => evidence.length >= 2, 're-attestation after SIGHUP');
  const stoppedAt = Date.now();
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
  const last = (usage.at(-1) as { report: { at: string } }).report.at;
  t.true(Date.parse(last) >= stoppedAt, `one last report as it stops (the last one is from ${last}, SIGTERM at ${new Date(stoppedAt).toISOString()})`);

  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(evidence[0]!.publicKey, 'hex').toString('base64url') }, format: 'jwk' });
  const reports = usage as { report: { sequence: number; bootId: string; counters: { promptTokens: string; gpuSeconds: string } }; signature: string }[];
  t.true(reports.every((u) => verify(null, Buffer.from(canonicalJson(u.report)), key, Buffer.from(u.signature, 'hex'))), 'signed by the attested key');
  t.deepEqual(reports.map((u) => u.report.sequence), reports.map((_, i) => i + 1));
  t.is(new Set(reports.map((u) => u.report.bootId)).size, 1);
  // No request passed through this sidecar: the terminator counted no tokens, and nothing else is read.
  t.true(reports.every((u) => u.report.counters.promptTokens === '0'));
  t.is(evidence[1]!.publicKey, evidence[0]!.publicKey, 're-attestation binds the same in-memory key');
});
