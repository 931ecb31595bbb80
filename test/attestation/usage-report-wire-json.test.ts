// Usage reports are signed over canonicalJson(report) and the verifier recomputes that text from the
// object it judges, so unlike TDX collateral (signature over raw text, object parsed separately) a
// repeated member on the wire cannot make the judged counters differ from the signed ones: whichever
// copy JSON.parse keeps is the one the signature is checked over. This pins that property; the strict
// parser refuses such a body outright.
import test from 'ava';
import { canonicalJson } from '../../operator/src/attestation/service/protocol.js';
import { parseSignedUsageReport } from '../../operator/src/attestation/service/validate.js';
import { parseStrictJson, StrictJsonError } from '../../operator/src/attestation/strict-json.js';
import { foldUsage } from '../../operator/src/settlement/metering.js';
import { replicaKey, report, signReport } from '../settlementaccount/_usage.js';

const key = replicaKey(7);
const attested = { pod: 'ns/r-0', publicKey: Buffer.from(key.publicKey).toString('hex'), attested: true, expiresAt: '2099-01-01T00:00:00Z' };
const now = new Date('2025-06-15T12:00:05Z');
const signed = signReport(key, report({ bootId: 'boot-aaaa', sequence: 1, prompt: 10, gen: 5 }));
const wire = JSON.stringify(signed);

test('the genuine wire report folds (the baseline)', (t) => {
  const fold = foldUsage(undefined, parseSignedUsageReport(JSON.parse(wire)), attested, now);
  t.is(fold.rejection, undefined);
});

test('a second promptTokens appended on the wire is what gets signature-checked, so the report is refused', (t) => {
  const forged = wire.replace('"promptTokens":"10"', '"promptTokens":"10","promptTokens":"999999"');
  t.not(forged, wire);
  const judged = parseSignedUsageReport(JSON.parse(forged));
  t.is(judged.report.counters.promptTokens, '999999');
  t.not(canonicalJson(judged.report), canonicalJson(signed.report));
  t.is(foldUsage(undefined, judged, attested, now).rejection?.code, 'SIGNATURE_INVALID');
});

test('the strict parser refuses the same body before anything is judged', (t) => {
  const forged = wire.replace('"promptTokens":"10"', '"promptTokens":"10","promptTokens":"999999"');
  t.throws(() => parseStrictJson(forged), { instanceOf: StrictJsonError, message: /"promptTokens" appears twice/ });
  t.deepEqual(parseStrictJson(wire), JSON.parse(wire));
});
