// Finding: the service verified evidence against no policy when the node's AttestationPolicy did not
// exist (a typo, a deleted policy), which admits any image, TCB and GPU mode. Now the evidence is
// rejected with POLICY_NOT_FOUND naming the ref, the verifier never runs, and nothing is written (the
// ProviderNode controller reports PolicyNotFound and withdraws the challenge).
import test from 'ava';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { ATTESTER_SA, boundToken, getProviderNode, junkEvidence, nodeSetup, post, service } from './_cluster.js';

test('evidence for a node whose policy does not exist is rejected as POLICY_NOT_FOUND, not verified against nothing', async (t) => {
  const s = await nodeSetup(t, { policy: false });
  let verifierRan = false;
  // A verifier that passes whatever it is given, as an empty policy lets real evidence pass.
  const svc = service(s, (): VerifyOutcome => {
    verifierRan = true;
    return { verified: true, reasons: [], claims: { simulated: true, gpus: [] } };
  });
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const before = await getProviderNode(s.rest, s.node);
  const r = await post(svc, '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: s.node }, s.nonce));
  t.is(r.status, 200, JSON.stringify(r.body));
  const body = r.body as { verified: boolean; reasons: Array<{ code: string; message: string }> };
  t.false(body.verified);
  t.deepEqual(body.reasons.map((x) => x.code), ['POLICY_NOT_FOUND']);
  t.regex(body.reasons[0]!.message, new RegExp(`AttestationPolicy "${s.policy}"`));
  t.false(verifierRan, 'nothing was verified without a policy');
  const after = await getProviderNode(s.rest, s.node);
  t.is(after.status?.attestation?.verifiedAt, before.status?.attestation?.verifiedAt, 'no verdict was recorded');
  t.is(after.metadata.resourceVersion, before.metadata.resourceVersion);
});
