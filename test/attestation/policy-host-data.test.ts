// SEV-SNP HOST_DATA is what the host fixed at launch for the guest to see, e.g. the digest of the Kata
// initdata (the agent policy). A policy that pins it rejects a guest launched with other initdata, or
// none (HOST_DATA all zero, as in every public vector), even when its image is the approved one.
import test from 'ava';
import { parsePolicy } from '../../operator/src/attestation/policy.js';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { verifySevSnp } from '../../operator/src/attestation/sev-snp/verify.js';
import { certsOf, codes, readVector, SNP_TIME } from './vectors.js';

const ZERO = '0'.repeat(64);
const KATA_INITDATA_DIGEST = 'a3'.repeat(32);
const evidence = () => ({ report: readVector('sev-snp', 'virtee-sev/report_milan.hex'), certificates: certsOf('sev-snp', 'virtee-sev/vcek_milan.der') });

test('a guest launched without the pinned Kata initdata is rejected with HOST_DATA_NOT_ALLOWED', (t) => {
  const v = verifySevSnp(evidence(), { now: SNP_TIME, policy: parsePolicy({ allowedHostData: [KATA_INITDATA_DIGEST] }) });
  t.false(v.verified);
  t.deepEqual(codes(v), ['HOST_DATA_NOT_ALLOWED']);
  t.regex(v.reasons[0]!.message, new RegExp(`HOST_DATA ${ZERO} is not in the policy's allowedHostData`));
});

test('a guest whose HOST_DATA is in the allow list passes, and the claim carries it', (t) => {
  const v = verifySevSnp(evidence(), { now: SNP_TIME, policy: parsePolicy({ allowedHostData: [KATA_INITDATA_DIGEST, ZERO.toUpperCase()] }) });
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
  t.is((v.claims as { hostData?: string }).hostData, ZERO);
});

test('an empty HOST_DATA allow list admits no guest', (t) => {
  t.deepEqual(codes(verifySevSnp(evidence(), { now: SNP_TIME, policy: parsePolicy({ allowedHostData: [] }) })), ['HOST_DATA_NOT_ALLOWED']);
});

test('a HOST_DATA entry that is not 32 bytes of hex is POLICY_INVALID', (t) => {
  for (const bad of ['ab', 'g'.repeat(64), 'a'.repeat(96)]) {
    const err = t.throws(() => parsePolicy({ allowedHostData: [bad] }), { instanceOf: AttestationError });
    t.is(err?.code, 'POLICY_INVALID');
    t.regex(err!.message, /allowedHostData\[0\]/);
  }
});
