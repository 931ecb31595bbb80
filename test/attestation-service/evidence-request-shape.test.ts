// Finding: an evidence request naming one GPU index twice passed the service's shape checks, was verified,
// and only the apiserver refused the verdict's status write (the CRD's rule on status.attestation.gpus):
// the attester got a server error for its own malformed request, and the service had spent a whole
// verification on it. The request is now refused up front with a 400 naming the field.
import test from 'ava';
import { BadRequest, parseEvidenceRequest } from '../../operator/src/attestation/service/validate.js';
import { fakeToken, harness } from './_fake.js';

function request(indexes: number[]): unknown {
  return {
    subject: { kind: 'node', nodeName: 'gpu-0' },
    nonce: 'a'.repeat(64),
    publicKey: 'b'.repeat(64),
    cpu: { type: 'tdx', quote: 'AAAA' },
    gpus: indexes.map((index) => ({ index, report: 'AAAA', certChain: '-----BEGIN CERTIFICATE-----' })),
  };
}

test('GPUs with distinct indexes pass the shape checks, in the order sent', (t) => {
  t.deepEqual(parseEvidenceRequest(request([3, 0, 1])).gpus.map((g) => g.index), [3, 0, 1]);
});

test('a GPU index sent twice is a 400 naming both entries and the fix', (t) => {
  const err = t.throws(() => parseEvidenceRequest(request([0, 1, 1])), { instanceOf: BadRequest });
  t.regex(err.message, /^gpus\[2\]\.index: GPU index 1 is also gpus\[1\]\.index;/);
  t.regex(err.message, /one entry per GPU/);
});

test('the service answers such a request 400 without verifying it', async (t) => {
  // The harness's verifier throws if called: a 400 here was decided before any verification.
  const h = harness();
  const answer = await h.post('/v1/evidence', fakeToken('gpu-0'), request([0, 0]));
  t.is(answer.status, 400, JSON.stringify(answer.body));
  t.regex(JSON.stringify(answer.body), /gpus\[1\]\.index: GPU index 0 is also gpus\[0\]\.index/);
});
