// A reconcile that writes a transition into status records its event even when its Node write then
// fails: the retry plans from the status just written and has no transition left to tell, so an event
// held back behind the Node write was lost for good (at a fleet's cold start, to the Node 409s that
// kube-controller-manager's own Node writes cause).
//
// Against the real apiserver with the real attestation service; the reconciler reads from caches the
// test fills by hand, so the Node it plans from is stale by construction.
import test from 'ava';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { AttestationPolicy } from '../../operator/src/api/attestationpolicy.js';
import type { ProviderNode } from '../../operator/src/api/providernode.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { ProviderNodeReconciler } from '../../operator/src/controllers/providernode/reconciler.js';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { AttestationPolicies, ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import type { EventRecorder, RecordedEvent } from '../../operator/src/kube/events.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Nodes, objectKey, resourcePath, type KubeObject } from '../../operator/src/kube/resource.js';
import { isConflict } from '../../operator/src/kube/rest.js';
import { Store } from '../../operator/src/kube/store.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { ATTESTER_SA, boundToken, HOST_CLAIMS, nodeSetup, post, service } from '../attestation-service/_cluster.js';

const passed: VerifyOutcome = { verified: true, reasons: [], claims: { ...HOST_CLAIMS, gpus: [{ index: 0, model: 'H100', ccMode: 'on' }] } };

test('the Attested event is recorded although the Node write after the status write answers 409', async (t) => {
  const s = await nodeSetup(t);
  const client = new KubeClient(s.rest, NO_FENCE);
  await s.rest.request('PATCH', resourcePath(Nodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { capacity: { 'nvidia.com/gpu': '1' }, allocatable: { 'nvidia.com/gpu': '1' } } },
  });
  // Not attested yet: the pending challenge is the node's first.
  await s.rest.request('PATCH', resourcePath(ProviderNodes, undefined, s.node, 'status'), {
    contentType: 'application/merge-patch+json',
    body: { status: { conditions: [{ type: 'Attested', status: 'False', reason: 'AwaitingEvidence', message: 'test', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }], attestation: { verifiedAt: null, expiresAt: null } } },
  });
  // The node's attester answers its challenge: the service writes the verdict.
  const nodeToken = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const answer = await post(service(s, () => passed), '/v1/evidence', nodeToken, {
    subject: { kind: 'node', nodeName: s.node }, nonce: s.nonce, publicKey: 'ef'.repeat(32),
    cpu: { type: 'sev-snp', report: Buffer.alloc(1184).toString('base64') }, gpus: [],
  });
  t.true((answer.body as { verified?: boolean }).verified, JSON.stringify(answer.body));

  // The controller's caches: the ProviderNode as it is now, the Node as it was before someone else wrote it.
  const providerNodes = new Store<ProviderNode & KubeObject>();
  const nodes = new Store<V1Node & KubeObject>();
  const policies = new Store<AttestationPolicy & KubeObject>();
  providerNodes.put((await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!);
  nodes.put((await client.get<V1Node & KubeObject>(Nodes, s.node))!);
  policies.put((await client.get<AttestationPolicy & KubeObject>(AttestationPolicies, s.policy))!);
  await s.rest.request('PATCH', resourcePath(Nodes, undefined, s.node), {
    contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'example.com/other-writer': 'yes' } } },
  });
  const recorded: RecordedEvent[] = [];
  const events = { record: async (_regarding: KubeObject, event: RecordedEvent) => { recorded.push(event); return true; } } as unknown as EventRecorder;
  const reconciler = new ProviderNodeReconciler({ client, events, config: s.config, providerNodes, nodes, pods: new Store<V1Pod & KubeObject>(), policies });

  const failure = await t.throwsAsync(reconciler.reconcile(objectKey('ProviderNode', undefined, s.node), { log: silentLogger(), signal: new AbortController().signal }));
  t.true(isConflict(failure), `the Node write conflicts: ${failure?.message}`);
  const after = (await client.get<ProviderNode & KubeObject>(ProviderNodes, s.node))!;
  t.is(after.status?.conditions?.find((c) => c.type === 'Attested')?.status, 'True', 'the status write went through');
  t.deepEqual(recorded.map((e) => e.reason), ['Attested'], 'and its transition was told');
});
