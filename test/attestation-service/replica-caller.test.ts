// Replica challenges, evidence and usage reports are accepted only with a token bound to that very Pod
// (its uid, not an earlier Pod of the same name) of the Pod's own ServiceAccount; node subjects only from
// the node attesters' ServiceAccount.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { AuthError, authorize, authorizeReplicaPod, type CallerIdentity } from '../../operator/src/attestation/service/caller-identity.js';

const ATTESTERS = { namespace: 'chrysalis-system', name: 'chrysalis-attester' };
const pod: V1Pod = { metadata: { namespace: 'team', name: 'llm-0', uid: 'uid-now' }, spec: { containers: [], serviceAccountName: 'default' } };
const sidecar: CallerIdentity = { username: 'system:serviceaccount:team:default', namespace: 'team', serviceAccount: 'default', podName: 'llm-0', podUid: 'uid-now', nodeName: 'gpu-1' };

const status = (fn: () => void) => {
  try {
    fn();
    return 200;
  } catch (err) {
    if (err instanceof AuthError) return err.status;
    throw err;
  }
};

test('the sidecar\'s own token is accepted for its Pod', (t) => {
  t.is(status(() => authorize(sidecar, { kind: 'replica', namespace: 'team', pod: 'llm-0' }, ATTESTERS)), 200);
  t.is(status(() => authorizeReplicaPod(sidecar, pod)), 200);
});

test('a token bound to an earlier Pod of the same name does not speak for the new one', (t) => {
  t.is(status(() => authorizeReplicaPod({ ...sidecar, podUid: 'uid-before' }, pod)), 403);
  t.is(status(() => authorizeReplicaPod({ ...sidecar, podUid: undefined }, pod)), 403, 'a pod-bound token always names the uid; one without is refused');
});

test('a token of another ServiceAccount than the Pod\'s own is refused', (t) => {
  t.is(status(() => authorizeReplicaPod({ ...sidecar, serviceAccount: 'builder', username: 'system:serviceaccount:team:builder' }, pod)), 403);
});

test('a neighbour Pod\'s token on the same node is refused for the replica', (t) => {
  t.is(status(() => authorize({ ...sidecar, podName: 'neighbour', podUid: 'uid-n' }, { kind: 'replica', namespace: 'team', pod: 'llm-0' }, ATTESTERS)), 403);
});

test('a replica sidecar\'s token, though bound to a Pod on the node, cannot attest the node', (t) => {
  t.is(status(() => authorize(sidecar, { kind: 'node', nodeName: 'gpu-1' }, ATTESTERS)), 403);
});
