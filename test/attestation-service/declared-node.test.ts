// Finding (issue 15, declared vs proven): the service verified node evidence without the ProviderNode's
// declaration, so a host could declare 8 H100s on a TDX machine and be attested on evidence that proves
// something else. Now the service hands spec.tee and spec.gpus to the verifier with every node answer,
// and the bundle verifier's DECLARED_MISMATCH (test/attestation/declared-vs-proven*.test.ts) decides.
import test from 'ava';
import type { DeclaredNode } from '../../operator/src/attestation/declared-vs-proven.js';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { ATTESTER_SA, boundToken, junkEvidence, nodeSetup, post, service } from './_cluster.js';

test('node evidence is judged against the ProviderNode declaration (spec.tee, spec.gpus)', async (t) => {
  const s = await nodeSetup(t);
  let seen: DeclaredNode | undefined;
  const svc = service(s, (_request, context): VerifyOutcome => {
    seen = context.declared;
    return { verified: false, reasons: [{ code: 'DECLARED_MISMATCH', message: 'test verifier' }], claims: { simulated: true, gpus: [] } };
  });
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const r = await post(svc, '/v1/evidence', token, junkEvidence({ kind: 'node', nodeName: s.node }, s.nonce));
  t.is(r.status, 200, JSON.stringify(r.body));
  t.deepEqual(seen, { tee: 'simulated', gpus: { model: 'H100', count: 1 } });
});
