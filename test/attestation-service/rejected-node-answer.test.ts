// A rejected answer from the node's attester identity does not consume the challenge at once: the
// challenge stays pending (the rejection is recorded as pendingRejections) so the node's own attester
// can still answer it; the third rejected answer to the same nonce becomes the verdict (lastFailure),
// and a passing answer before that clears the rejections. See the rule in service.ts.
import test from 'ava';
import type { VerifyOutcome } from '../../operator/src/attestation/service/service.js';
import { MAX_REJECTED_NODE_ANSWERS } from '../../operator/src/attestation/service/service.js';
import { ATTESTER_SA, boundToken, getProviderNode, junkEvidence, nodeSetup, post, service } from './_cluster.js';

const rejected: VerifyOutcome = { verified: false, reasons: [{ code: 'MALFORMED_EVIDENCE', message: 'junk' }], claims: { simulated: false, gpus: [] } };
const passed: VerifyOutcome = { verified: true, reasons: [], claims: { simulated: true, gpus: [{ index: 0, model: 'H100', ccMode: 'on' }] } };

test('one bad answer from the attester identity does not burn the challenge before the node\'s own attester answers it', async (t) => {
  const s = await nodeSetup(t);
  let next = rejected;
  const svc = service(s, () => next);
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const subject = { kind: 'node' as const, nodeName: s.node };

  const bad = await post(svc, '/v1/evidence', token, junkEvidence(subject, s.nonce));
  t.is(bad.status, 200, JSON.stringify(bad.body));
  t.false((bad.body as { verified: boolean }).verified);
  const pending = await getProviderNode(s.rest, s.node);
  t.is(pending.status?.attestation?.challenge?.nonce, s.nonce, 'the challenge is still pending');
  t.is(pending.status?.attestation?.lastFailure, undefined, 'no verdict yet: nothing to quarantine on');
  t.like(pending.status?.attestation?.pendingRejections, { nonce: s.nonce, count: 1, code: 'MALFORMED_EVIDENCE' });

  // The node's own attester answers the same challenge and passes.
  next = passed;
  const good = await post(svc, '/v1/evidence', token, junkEvidence(subject, s.nonce));
  t.true((good.body as { verified: boolean }).verified, JSON.stringify(good.body));
  const attested = await getProviderNode(s.rest, s.node);
  t.is(attested.status?.attestation?.challenge, undefined, 'the passing answer consumed the challenge');
  t.is(attested.status?.attestation?.pendingRejections, undefined);
  t.is(attested.status?.attestation?.lastFailure, undefined);
  t.truthy(attested.status?.attestation?.verifiedAt);
});

test(`the ${MAX_REJECTED_NODE_ANSWERS}rd rejected answer to one challenge becomes the node's verdict and consumes it`, async (t) => {
  const s = await nodeSetup(t);
  const svc = service(s, () => rejected);
  const token = await boundToken(s.rest, s.attesterNs, ATTESTER_SA, { kind: 'Node', name: s.node, uid: s.nodeUid });
  const subject = { kind: 'node' as const, nodeName: s.node };
  for (let i = 1; i < MAX_REJECTED_NODE_ANSWERS; i++) {
    await post(svc, '/v1/evidence', token, junkEvidence(subject, s.nonce));
    const pn = await getProviderNode(s.rest, s.node);
    t.is(pn.status?.attestation?.pendingRejections?.count, i);
    t.is(pn.status?.attestation?.lastFailure, undefined);
  }
  const last = await post(svc, '/v1/evidence', token, junkEvidence(subject, s.nonce));
  t.false((last.body as { verified: boolean }).verified);
  const pn = await getProviderNode(s.rest, s.node);
  t.like(pn.status?.attestation?.lastFailure, { code: 'MALFORMED_EVIDENCE' });
  t.is(pn.status?.attestation?.challenge, undefined, 'consumed');
  t.is(pn.status?.attestation?.pendingRejections, undefined);
  // The nonce answers nothing more.
  const replay = await post(svc, '/v1/evidence', token, junkEvidence(subject, s.nonce));
  t.is(replay.status, 503, JSON.stringify(replay.body));
});
