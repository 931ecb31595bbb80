// Finding: any Pod on a node could get that node quarantined. A Pod's projected token (any
// ServiceAccount, audience chrysalis-attestation) carries the node's name, and the service authorized
// node evidence by that claim alone: the Pod fetched the pending challenge, posted junk evidence, and the
// rejection consumed the nonce and became lastFailure — ReattestationFailed, cordon, eviction.
// Now only the node attesters' ServiceAccount may speak for a node; anyone else gets 403 and nothing is
// written. Against the real apiserver, with real bound tokens and the real TokenReview.
import test from 'ava';
import { ATTESTER_SA, boundToken, getProviderNode, junkEvidence, nodeSetup, podOn, podToken, post, service } from './_cluster.js';

const neverCalled = () => {
  throw new Error('the verifier must not run for an unauthorized caller');
};

test('a neighbour Pod\'s token cannot fetch a node\'s challenge nor quarantine the node with junk evidence', async (t) => {
  const s = await nodeSetup(t);
  const svc = service(s, neverCalled);
  const neighbour = await podOn(s.rest, s.tenantNs, 'neighbour', s.node);
  const token = await podToken(s.rest, neighbour);
  const before = await getProviderNode(s.rest, s.node);

  const challenge = await post(svc, '/v1/challenge', token, { subject: { kind: 'node', nodeName: s.node } });
  t.is(challenge.status, 403, JSON.stringify(challenge.body));
  t.regex((challenge.body as { error: string }).error, new RegExp(`only from the node attesters' ServiceAccount ${s.attesterNs}/${ATTESTER_SA}`));

  // Even knowing the nonce (it is in the ProviderNode's status), its evidence is refused unread.
  const evidence = await post(svc, '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: s.node }, s.nonce));
  t.is(evidence.status, 403, JSON.stringify(evidence.body));

  const after = await getProviderNode(s.rest, s.node);
  t.is(after.metadata.resourceVersion, before.metadata.resourceVersion, 'nothing was written');
  t.is(after.status?.attestation?.challenge?.nonce, s.nonce, 'the challenge is still pending');
  t.is(after.status?.attestation?.lastFailure, undefined, 'no failure recorded');
});

test('a Pod of the attesters\' own namespace but another ServiceAccount cannot attest the node either', async (t) => {
  const s = await nodeSetup(t);
  const svc = service(s, neverCalled);
  const other = await podOn(s.rest, s.attesterNs, 'not-the-attester', s.node);
  const token = await podToken(s.rest, other);
  const r = await post(svc, '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: s.node }, s.nonce));
  t.is(r.status, 403, JSON.stringify(r.body));
  t.is((await getProviderNode(s.rest, s.node)).status?.attestation?.challenge?.nonce, s.nonce);
});

test('the attesters\' ServiceAccount with a token bound to another node cannot attest this one', async (t) => {
  const s = await nodeSetup(t);
  const other = await nodeSetup(t);
  const svc = service({ rest: s.rest, config: { ...s.config, attesterServiceAccount: { namespace: other.attesterNs, name: ATTESTER_SA } } }, neverCalled);
  const token = await boundToken(s.rest, other.attesterNs, ATTESTER_SA, { kind: 'Node', name: other.node, uid: other.nodeUid });
  const r = await post(svc, '/v1/challenge', token, { subject: { kind: 'node', nodeName: s.node } });
  t.is(r.status, 403, JSON.stringify(r.body));
  t.regex((r.body as { error: string }).error, new RegExp(`token is bound to node ${other.node}, not ${s.node}`));
});

test('the node attester\'s own token, bound to its Pod on the node, fetches the challenge', async (t) => {
  const s = await nodeSetup(t);
  const svc = service(s, neverCalled);
  const attester = await podOn(s.rest, s.attesterNs, 'attester-abcde', s.node, { serviceAccount: ATTESTER_SA });
  const r = await post(svc, '/v1/challenge', await podToken(s.rest, attester), { subject: { kind: 'node', nodeName: s.node } });
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is((r.body as { nonce: string }).nonce, s.nonce);
});
