// Which Pods are replicas (replica-owner.ts): only a Pod its InferencePool controls, with the pool's
// current uid. The shapes an impostor can write onto its own Pod are each refused.
import test from 'ava';
import { whyNotAReplica, type ReplicaPodMeta } from '../../operator/src/attestation/service/replica-owner.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { buildReplicaPod } from '../../operator/src/controllers/inferencepool/pod-builder.js';
import { pool as poolObject } from '../inferencepool/builders.js';

const pool = { metadata: { name: 'llm', namespace: 'team', uid: 'uid-llm' } };
const ref = { apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool', name: 'llm', uid: 'uid-llm', controller: true };
const pod = (labels: Record<string, string> | undefined, ownerReferences: NonNullable<ReplicaPodMeta['metadata']>['ownerReferences']): ReplicaPodMeta =>
  ({ metadata: { namespace: 'team', name: 'llm-0', ...(labels ? { labels } : {}), ...(ownerReferences ? { ownerReferences } : {}) } });
const label = { 'chrysalis.dev/pool': 'llm' };

test('a Pod labelled with the pool and controlled by it, with its uid, is a replica', (t) => {
  t.is(whyNotAReplica(pod(label, [ref]), pool), undefined);
});

test('the Pod the InferencePool controller builds is a replica of its pool, and of no pool of that name made again', (t) => {
  const llama = poolObject('llama', 1);
  const built = buildReplicaPod({ pool: llama, index: 0, tee: 'simulated', config: DEFAULT_CONFIG }) as ReplicaPodMeta;
  t.is(whyNotAReplica(built, llama), undefined);
  t.truthy(whyNotAReplica(built, { metadata: { ...llama.metadata, uid: 'uid-llama-recreated' } }));
});

test('a Pod without the pool label is not a replica', (t) => {
  t.regex(whyNotAReplica(pod(undefined, [ref]), pool)!, /has no chrysalis\.dev\/pool label/);
});

test('the label alone, or an owner reference that is not the controller, does not make a replica', (t) => {
  t.regex(whyNotAReplica(pod(label, undefined), pool)!, /not controlled by InferencePool llm/);
  t.regex(whyNotAReplica(pod(label, [{ ...ref, controller: false }]), pool)!, /not controlled by InferencePool llm/);
  t.regex(whyNotAReplica(pod(label, [{ ...ref, controller: undefined as unknown as boolean }]), pool)!, /not controlled/);
});

test('a controller of another kind, group version or name is not the pool the label names', (t) => {
  t.regex(whyNotAReplica(pod(label, [{ ...ref, kind: 'ReplicaSet' }]), pool)!, /not controlled/);
  t.regex(whyNotAReplica(pod(label, [{ ...ref, apiVersion: 'evil.example/v1alpha1' }]), pool)!, /not controlled/);
  t.regex(whyNotAReplica(pod(label, [{ ...ref, name: 'cheap' }]), pool)!, /not controlled/);
  t.regex(whyNotAReplica(pod(label, [ref, { ...ref, name: 'cheap', uid: 'uid-cheap' }]), pool)!, /not controlled/);
});

test('a reference to the pool\'s name with another uid (a pool deleted and made again, or made up) is refused', (t) => {
  t.regex(whyNotAReplica(pod(label, [{ ...ref, uid: 'uid-old' }]), pool)!, /names uid uid-old, the pool's is uid-llm/);
});

test('a pool that does not exist, or is another namespace\'s, controls nothing', (t) => {
  t.regex(whyNotAReplica(pod(label, [ref]), undefined)!, /no such pool in namespace team/);
  t.regex(whyNotAReplica(pod(label, [ref]), { metadata: { ...pool.metadata, namespace: 'other' } })!, /no such pool/);
  t.regex(whyNotAReplica(pod(label, [ref]), { metadata: { name: 'llm', namespace: 'team' } })!, /no such pool/);
});
