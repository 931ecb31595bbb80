// --simulated-state: the attester's simulated TEE issues under a root given as a file (the chart's
// attester.simulated.stateSecret), so its evidence verifies under a policy that trusts that root; without
// the flag it makes a root of its own, which that policy does not trust. A bad file exits 2 naming the flag.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { tempDir } from './_fixture.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const tee = SimulatedTee.create({ gpus: 1 });

async function print(extra: string[], nonce: Uint8Array) {
  return run(process.execPath, ['--import', 'tsx', join(root, 'attester/src/main.ts'), '--print', '--nonce', Buffer.from(nonce).toString('hex'),
    '--tee', 'simulated', '--gpu', 'simulated', '--simulated-gpus', '2', '--node-name', 'gpu-0', ...extra], { cwd: root });
}

function verify(stdout: string, nonce: Uint8Array) {
  const { subject: _subject, ...bundle } = JSON.parse(stdout) as EvidenceRequest;
  return verifyEvidenceBundle(bundle, { nonce, policy: tee.policy(), now: new Date(), expectedGpuCount: 2 });
}

test('with --simulated-state the CPU and GPU evidence chain to the given root; without it, to a root the policy does not trust', async (t) => {
  const dir = await tempDir();
  const state = join(dir, 'state.json');
  await writeFile(state, JSON.stringify(tee.exportRoot()));
  const nonce = randomBytes(32);
  const shared = verify((await print(['--simulated-state', state], nonce)).stdout, nonce);
  t.deepEqual(shared.reasons, []);
  t.true(shared.verified);
  t.true(shared.claims.simulated);
  t.is(shared.claims.gpus.length, 2);
  const fresh = verify((await print([], nonce)).stdout, nonce);
  t.false(fresh.verified);
});

test('an unreadable or malformed --simulated-state exits 2 naming the flag', async (t) => {
  const dir = await tempDir();
  const bad = join(dir, 'state.json');
  await writeFile(bad, JSON.stringify({ certificate: 'nope' }));
  for (const path of [bad, join(dir, 'missing.json')]) {
    const err = await t.throwsAsync(print(['--simulated-state', path], randomBytes(32))) as Error & { code: number; stderr: string };
    t.is(err.code, 2);
    t.regex(err.stderr, /--simulated-state/);
  }
});
