// The simulated NVML's "GPUs ready" state follows the project's own verifier's verdicts on simulated
// evidence: a node attester with the simulated TEE releases its simulated GPUs only once the evidence
// verifies, and withholds them when the policy stops accepting it (allowSimulated dropped) or when the
// simulated driver refuses the write.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Attester } from '../../attester/src/attester.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import type { VerifierPolicy } from '../../operator/src/attestation/policy.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const tee = await SimulatedTee.create({ gpus: 2 });
const T0 = Date.parse('2026-12-03T12:00:00Z');

/**
 * A node attester on the simulated TEE whose "service" judges each answer with verifyEvidenceBundle under
 * the policies given in turn (one per evidence request); stops when they are used up.
 */
async function attestUnder(policies: VerifierPolicy[], gpu = new SimulatedGpuSource(tee)) {
  let now = T0;
  const issued = new Set<string>();
  const stop = new AbortController();
  const transport: Transport = {
    challenge: async () => {
      const nonce = randomBytes(32).toString('hex');
      issued.add(nonce);
      return { nonce, expiresAt: new Date(now + 60_000).toISOString() };
    },
    evidence: async (request) => {
      const policy = policies.shift();
      if (!policy || !issued.has(request.nonce)) {
        stop.abort();
        throw new Error('script done');
      }
      const { subject: _subject, ...bundle } = request;
      // The simulated certificates are valid around the real time, so the verifier judges at the real time.
      const v = verifyEvidenceBundle(bundle, { nonce: Buffer.from(request.nonce, 'hex'), policy, now: new Date(), expectedGpuCount: 2 });
      return { verified: v.verified, reasons: v.reasons, ...(v.verified ? { expiresAt: new Date(now + 10 * 60_000).toISOString() } : {}) };
    },
    usage: async () => ({ accepted: true, reasons: [] }),
  };
  const attester = new Attester({
    subject: { kind: 'node', nodeName: 'sim-0' },
    cpu: new SimulatedCpuSource(tee),
    gpu,
    transport,
    now: () => now,
    retry: { maxAttempts: 1 },
    sleep: async (ms) => void (now += ms),
  });
  const seen: { verified: boolean; codes: string[]; accepting: boolean }[] = [];
  await attester
    .run(stop.signal, (o) => seen.push({ verified: o.verified, codes: o.reasons.map((r) => r.code), accepting: gpu.readyState.accepting }))
    .catch(() => undefined);
  return { seen, gpu, attester };
}

test('simulated GPUs take work only after the verifier accepts the node evidence, and are withheld when the policy stops accepting it', async (t) => {
  const { seen, gpu } = await attestUnder([tee.policy(), { ...tee.policy(), allowSimulated: false }]);
  t.is(seen.length, 2);
  t.like(seen[0], { verified: true, accepting: true });
  t.like(seen[1], { verified: false, accepting: false });
  t.true(seen[1]!.codes.length > 0);
  t.deepEqual(gpu.readyState.writes, [false, true, false, false], 'start, verified, rejected, stop');
  t.false(gpu.readyState.accepting);
});

test('a simulated driver that refuses every write never takes work, and the attester reports failed, not ready', async (t) => {
  const gpu = new SimulatedGpuSource(tee);
  gpu.readyState.failNext = Infinity;
  const { seen, attester } = await attestUnder([tee.policy()], gpu);
  t.like(seen[0], { verified: true, accepting: false });
  t.deepEqual(gpu.readyState.writes, []);
  t.like(attester.gpusReady, { state: 'failed', released: false });
  t.regex(attester.gpusReady?.error ?? '', /Insufficient Permissions/);
});
