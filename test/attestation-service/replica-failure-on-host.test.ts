// A replica's evidence that fails on state its node-cvm host shares with it is recorded on the host
// (status.attestation.replicaFailure), so the controller re-checks the host now; a failure that is the
// replica's own (alone, or beside a host-state code), evidence of another chip, or a pod-cvm replica's,
// is not. Against the real apiserver with real bound tokens; the
// verifier's outcome is the test's.
import test from 'ava';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { attestReplica, getProviderNode, HOST_CLAIMS, nodeSetup, podOn, service, until } from './_cluster.js';

const failed = (codes: string | string[], claims: Partial<VerifyOutcome['claims']> = {}): VerifyOutcome => ({
  verified: false,
  reasons: [codes].flat().map((code) => ({ code, message: `test: ${code}` })),
  claims: { ...HOST_CLAIMS, gpus: [], ...claims },
});

/** One replica attestation that the verifier fails as `outcome`; the service may answer 503 while the new Pod settles. */
async function failWith(outcome: VerifyOutcome, topology: 'node-cvm' | 'pod-cvm', t: Parameters<typeof nodeSetup>[0]) {
  const s = await nodeSetup(t, { topology });
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const svc = service(s, async () => outcome);
  const r = await until('a verdict', async () => {
    const a = await attestReplica(svc, s, pod);
    return a.challenge.status === 503 || a.evidence.status === 503 ? undefined : a;
  });
  t.is(r.evidence.status, 200, JSON.stringify(r.evidence.body));
  t.false(r.body.verified);
  return { host: await getProviderNode(s.rest, s.node), pod: `${s.tenantNs}/llm-0` };
}

test('GPU confidential computing off in a node-cvm replica\'s evidence is recorded on its host', async (t) => {
  const before = Date.now();
  const { host, pod } = await failWith(failed('GPU_CC_DISABLED'), 'node-cvm', t);
  const recorded = host.status?.attestation?.replicaFailure;
  t.like(recorded, { pod, code: 'GPU_CC_DISABLED' });
  t.true(Date.parse(recorded!.at) >= before - 1000, 'recorded at the verdict');
});

test('a replica\'s own failure (a wrong binding) is not recorded on its host', async (t) => {
  const { host } = await failWith(failed('BINDING_MISMATCH'), 'node-cvm', t);
  t.is(host.status?.attestation?.replicaFailure, undefined);
});

test('a pod-cvm replica\'s failure is its own VM\'s, not recorded on the host', async (t) => {
  const { host } = await failWith(failed('GPU_CC_DISABLED'), 'pod-cvm', t);
  t.is(host.status?.attestation?.replicaFailure, undefined);
});

test('GPU CC off in a replayed report (beside its nonce failure) is not recorded: it is no fresh look at the host', async (t) => {
  const { host } = await failWith(failed(['NONCE_MISMATCH', 'GPU_CC_DISABLED']), 'node-cvm', t);
  t.is(host.status?.attestation?.replicaFailure, undefined);
});

test('GPU CC off in evidence of another chip than the host\'s is not recorded', async (t) => {
  const { host } = await failWith(failed('GPU_CC_DISABLED', { chipId: '77'.repeat(64) }), 'node-cvm', t);
  t.is(host.status?.attestation?.replicaFailure, undefined);
});
