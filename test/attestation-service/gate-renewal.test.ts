// Finding (chaos bench, 1,000 nodes, the apiserver's CPU what gives out): every replica re-attestation
// patched its Pod's status, though the gate was True already and stayed True. Only the condition's
// lastTransitionTime and a "valid until" in its message changed, and each Pod write is an event to every
// watcher of Pods (the controllers, kwok or the kubelet). The key's renewal on the host's ProviderNode is
// what keeps a True gate valid, so a renewal now leaves the gate unwritten — after a read that confirms
// it is still True. Against the real apiserver.
import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import { REPLICA_VERIFIED_MESSAGE } from '../../operator/src/attestation/service/service.js';
import { Pods, resourcePath } from '../../operator/src/kube/resource.js';
import { READINESS_GATE_ATTESTED } from '../../operator/src/marks.js';
import { attestReplica, getProviderNode, HOST_CLAIMS, nodeSetup, podOn, service } from './_cluster.js';

const passes = () => ({ verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [] } });
const gateOf = (pod: V1Pod) => pod.status?.conditions?.find((c) => c.type === READINESS_GATE_ATTESTED);

test('a renewal leaves a True gate unwritten and renews the key; a gate set True by anyone else, or turned False meanwhile, is written', async (t) => {
  const s = await nodeSetup(t);
  const pod = await podOn(s.rest, s.tenantNs, 'llm-0', s.node, { replicaOf: 'llm' });
  const read = () => s.rest.request<V1Pod>('GET', resourcePath(Pods, s.tenantNs, 'llm-0'));
  const setGate = (status: 'True' | 'False', reason: string) => s.rest.request('PATCH', resourcePath(Pods, s.tenantNs, 'llm-0', 'status'), {
    contentType: 'application/strategic-merge-patch+json',
    body: { status: { conditions: [{ type: READINESS_GATE_ATTESTED, status, reason, message: 'set by the test', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } },
  });
  const svc = service(s, passes);

  // A gate True that this service did not set (kwok sets every gate True; anyone who may patch Pod status
  // could) is not taken as a verdict: the first pass writes its own.
  await setGate('True', 'SetByOthers');
  t.true((await attestReplica(svc, s, pod)).body.verified);
  const first = await read();
  t.like(gateOf(first), { status: 'True', reason: 'Verified' });
  const keyOf = async () => ((await getProviderNode(s.rest, s.node)) as ProviderNode).status?.attestedReplicas?.find((k) => k.uid === pod.metadata!.uid);
  const firstKey = await keyOf();
  t.truthy(firstKey);

  // The renewal: a new key on the host, and the Pod not written.
  await new Promise((r) => setTimeout(r, 1100)); // a later expiry, to the second
  t.true((await attestReplica(svc, s, pod)).body.verified);
  const renewed = await read();
  t.is(renewed.metadata!.resourceVersion, first.metadata!.resourceVersion, 'the Pod was not written');
  const renewedKey = await keyOf();
  t.not(renewedKey?.publicKey, firstKey?.publicKey);
  t.true(Date.parse(renewedKey!.expiresAt) > Date.parse(firstKey!.expiresAt));

  // Turned False meanwhile (as the controller does when a key lapses): the next pass writes it True again.
  await setGate('False', 'AttestationExpired');
  t.true((await attestReplica(svc, s, pod)).body.verified);
  t.like(gateOf(await read()), { status: 'True', reason: 'Verified', message: REPLICA_VERIFIED_MESSAGE });

  // True and Verified in other words (an earlier version's, with an expiry that would go stale): rewritten once.
  await setGate('True', 'Verified');
  t.true((await attestReplica(svc, s, pod)).body.verified);
  t.like(gateOf(await read()), { status: 'True', reason: 'Verified', message: REPLICA_VERIFIED_MESSAGE });
});
