// `chrysalis reattest --wait` reads a node's re-check from its ProviderNode by nonces and recorded values,
// not clocks: these are the states it passes through, as the controller and the service write them.
import test from 'ava';
import type { ProviderNode, ProviderNodeStatus } from '../../operator/src/api/index.js';
import { reattestProgress, verdictBefore } from '../../cli/src/views/reattest-progress.js';

const V0 = '2026-12-06T09:00:00Z';
const node = (attestation: NonNullable<ProviderNodeStatus['attestation']>, conditions: ProviderNodeStatus['conditions'] = []): ProviderNode => ({
  apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode', metadata: { name: 'gpu-1' },
  spec: { nodeName: 'gpu-1', tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: '0:' + 'a'.repeat(64) },
  status: { attestation, conditions },
});
const challenge = (nonce: string, issuedAt: string) => ({ nonce: nonce.repeat(64), issuedAt, expiresAt: '2026-12-06T10:30:00Z' });
const before = verdictBefore(node({ verifiedAt: V0, expiresAt: '2026-12-06T10:00:00Z' }));

test('before the controller answers the request, and while its challenge is pending, the re-check waits', (t) => {
  t.is(reattestProgress(node({ verifiedAt: V0 }), 'r1', before).state, 'waiting');
  const pending = reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('a', '2026-12-06T10:00:01Z') }), 'r1', before);
  t.is(pending.state, 'waiting');
  t.is(pending.seen?.nonce, 'a'.repeat(64));
  // The verifier's clock may be behind the controller's: a pass still counts once the nonce is consumed.
  const passed = reattestProgress(node({ verifiedAt: '2026-12-06T10:00:00.500Z', expiresAt: '2026-12-06T11:00:00Z', reattestRequest: 'r1' }), 'r1', before, pending.seen);
  t.is(passed.state, 'verified');
  t.regex(passed.detail, /verified at 2026-12-06T10:00:00.500Z/);
});

test('a final rejection is reported, even once the controller has issued the next challenge', (t) => {
  const seen = reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('a', '2026-12-06T10:00:01Z') }), 'r1', before).seen;
  const rejected = reattestProgress(node({
    verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('b', '2026-12-06T10:00:03Z'),
    lastFailure: { code: 'GPU_CC_DISABLED', message: 'GPU 0 reports CC off', at: '2026-12-06T10:00:02Z' },
  }), 'r1', before, seen);
  t.is(rejected.state, 'rejected');
  t.regex(rejected.detail, /GPU_CC_DISABLED/);
});

test('an answer rejected but not yet finally keeps the re-check waiting, and says so', (t) => {
  const seen = reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('a', '2026-12-06T10:00:01Z') }), 'r1', before).seen;
  const retrying = reattestProgress(node({
    verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('a', '2026-12-06T10:00:01Z'),
    pendingRejections: { nonce: 'a'.repeat(64), count: 1, code: 'NONCE_MISMATCH', message: 'x', at: '2026-12-06T10:00:02Z' },
  }), 'r1', before, seen);
  t.is(retrying.state, 'waiting');
  t.regex(retrying.detail, /rejected 1 time/);
});

test('a challenge that lapsed unanswered and was replaced is followed in its turn', (t) => {
  const seen = reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('a', '2026-12-06T10:00:01Z') }), 'r1', before).seen;
  const replaced = reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1', challenge: challenge('c', '2026-12-06T10:06:00Z') }), 'r1', before, seen);
  t.is(replaced.state, 'waiting');
  t.is(replaced.seen?.nonce, 'c'.repeat(64));
});

test('a verdict so quick that no poll saw the challenge is judged by what changed since the request', (t) => {
  t.is(reattestProgress(node({ verifiedAt: '2026-12-06T10:00:02Z', reattestRequest: 'r1' }), 'r1', before).state, 'verified');
  // Recorded but nothing judged yet and no challenge (the policy was deleted and the challenge withdrawn): waiting.
  t.is(reattestProgress(node({ verifiedAt: V0, reattestRequest: 'r1' }), 'r1', before).state, 'waiting');
});

test('a node whose policy is missing is reported as not challenged, with the controller\'s words', (t) => {
  const p = reattestProgress(node({ verifiedAt: V0 }, [{ type: 'Attested', status: 'False', reason: 'PolicyNotFound', message: 'spec.policyRef.name "x" names no AttestationPolicy', lastTransitionTime: V0 }]), 'r1', before);
  t.is(p.state, 'waiting');
  t.regex(p.detail, /not challenged: spec.policyRef.name "x"/);
});
