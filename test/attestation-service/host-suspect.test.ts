// Which failed replica verdicts make a node-cvm host suspect: only a failure on state the host shares with
// the replica, alone (no freshness, binding or signature failure beside it), in evidence that names the
// host's own chip, VM and GPUs. Anything else is the replica's own answer, which may be old or another
// machine's, and must not be able to bring its host's re-check forward on purpose.
import test from 'ava';
import type { ProviderNodeStatusAttestation } from '../../operator/src/api/providernode.js';
import { HOST_STATE_CODES, hostStateFailure } from '../../operator/src/attestation/service/host-suspect.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';

const HOST: ProviderNodeStatusAttestation = {
  measurement: '5a'.repeat(48), imageHash: 'c3'.repeat(32), chipId: '9e'.repeat(64), simulated: false,
  gpus: [{ index: 0, model: 'H100', deviceId: 'GPU-A' }, { index: 1, model: 'H100', deviceId: 'GPU-B' }],
};
const ON_HOST = { measurement: HOST.measurement!, imageHash: HOST.imageHash!, chipId: HOST.chipId!, simulated: false, gpus: [{ index: 1, model: 'H100', deviceId: 'GPU-B' }] };

function failed(codes: string[], claims: Partial<VerifyOutcome['claims']> = {}): VerifyOutcome {
  return { verified: false, reasons: codes.map((code) => ({ code, message: `test: ${code}` })), claims: { ...ON_HOST, ...claims } };
}

test('a host-state failure alone, in evidence of the host\'s own chip, VM and GPUs, is recorded', (t) => {
  for (const code of HOST_STATE_CODES as ReadonlySet<string>) t.is(hostStateFailure(failed([code]), 'node-cvm', HOST, 'gpu-1')?.code, code, code);
  t.is(hostStateFailure(failed(['VERSION_NOT_ALLOWED', 'GPU_CC_DISABLED']), 'node-cvm', HOST, 'gpu-1')?.code, 'VERSION_NOT_ALLOWED');
});

test('a host-state failure beside the replica\'s own (stale nonce, binding, age, signature) is not: the evidence is no fresh look at the host', (t) => {
  for (const own of ['NONCE_MISMATCH', 'BINDING_MISMATCH', 'EVIDENCE_TOO_OLD', 'SIGNATURE_INVALID', 'HOST_NOT_ATTESTED', 'COLLATERAL_MISSING']) {
    t.is(hostStateFailure(failed([own, 'GPU_CC_DISABLED']), 'node-cvm', HOST, 'gpu-1'), undefined, own);
    t.is(hostStateFailure(failed(['GPU_CC_DISABLED', own]), 'node-cvm', HOST, 'gpu-1'), undefined, own);
  }
});

test('evidence of another chip, VM or GPU than the host\'s is not recorded', (t) => {
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED'], { chipId: '77'.repeat(64) }), 'node-cvm', HOST, 'gpu-1'), undefined, 'another chip');
  t.is(hostStateFailure(failed(['DEBUG_ENABLED'], { measurement: '11'.repeat(48) }), 'node-cvm', HOST, 'gpu-1'), undefined, 'another VM');
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED'], { gpus: [{ index: 0, model: 'H100', deviceId: 'GPU-X' }] }), 'node-cvm', HOST, 'gpu-1'), undefined, 'a GPU the host does not have');
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED'], { gpus: [{ index: 0, model: 'H100' }] }), 'node-cvm', HOST, 'gpu-1'), undefined, 'a GPU without an identity');
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED'], { simulated: true }), 'node-cvm', HOST, 'gpu-1'), undefined, 'simulated evidence for a real host');
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED']), 'node-cvm', { ...HOST, chipId: undefined }, 'gpu-1'), undefined, 'a host with no chip identity recorded');
});

test('a pod-cvm replica\'s failure, a pass, and a failure with no reasons are not recorded', (t) => {
  t.is(hostStateFailure(failed(['GPU_CC_DISABLED']), 'pod-cvm', HOST, 'gpu-1'), undefined);
  t.is(hostStateFailure({ verified: true, reasons: [], claims: ON_HOST }, 'node-cvm', HOST, 'gpu-1'), undefined);
  t.is(hostStateFailure(failed([]), 'node-cvm', HOST, 'gpu-1'), undefined);
});
