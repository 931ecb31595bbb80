// A ProviderNode is attested only for what its evidence proves: spec.tee, spec.gpus.model and
// spec.gpus.count against the verified bundle. Simulated evidence never stands for a hardware TEE.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { verifyEvidenceBundle, type EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { declaredVsProven, provenTee } from '../../operator/src/attestation/declared-vs-proven.js';
import { gpuNonceFor } from '../../operator/src/attestation/freshness.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { codes } from './vectors.js';

const now = new Date('2026-06-01T00:00:00Z');
const tee = SimulatedTee.create({ now, gpus: 2 });
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nonce = new Uint8Array(randomBytes(32));
const key = new Uint8Array(randomBytes(32));
const cpu = tee.snpReport({ nonce, publicKey: key });
const bundle: EvidenceBundle = {
  nonce: hex(nonce), publicKey: hex(key),
  cpu: { type: 'simulated', report: b64(cpu.report), vcek: b64(cpu.vcek), chain: cpu.chainPem },
  gpus: tee.gpuReports({ nonce: gpuNonceFor(nonce, key) }).map((g, index) => ({ index, report: b64(g.evidence), certChain: g.chainPem })),
};
const verifyAs = (declared: Parameters<typeof declaredVsProven>[0]) => verifyEvidenceBundle(bundle, { nonce, now, policy: tee.policy(), declared });

test('a simulated node that declares what it proves (simulated, 2 × H100) is attested', (t) => {
  const v = verifyAs({ tee: 'simulated', gpus: { model: 'H100', count: 2 } });
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
});

test('simulated evidence does not attest a node that declares a hardware TEE (sev-snp or tdx)', (t) => {
  for (const declared of ['sev-snp', 'tdx'] as const) {
    const v = verifyAs({ tee: declared, gpus: { model: 'H100', count: 2 } });
    t.false(v.verified);
    t.deepEqual(codes(v), ['DECLARED_MISMATCH']);
    t.regex(v.reasons[0]!.message, new RegExp(`spec.tee is ${declared} but the evidence proves simulated`));
  }
});

test('a node that declares more GPUs, or another GPU model, than its evidence proves is rejected', (t) => {
  t.deepEqual(codes(verifyAs({ tee: 'simulated', gpus: { model: 'H100', count: 8 } })), ['DECLARED_MISMATCH']);
  const h200 = verifyAs({ tee: 'simulated', gpus: { model: 'H200', count: 2 } });
  t.deepEqual(codes(h200), ['DECLARED_MISMATCH', 'DECLARED_MISMATCH']);
  t.regex(h200.reasons[0]!.message, /spec.gpus.model is H200 but GPU 0's evidence proves H100/);
});

test('a GPU whose evidence names no model cannot confirm a declared model', (t) => {
  const r = declaredVsProven({ tee: 'tdx', gpus: { model: 'H100', count: 1 } }, { cpuType: 'tdx', simulated: false, gpus: [{ chip: 'GH100' }] });
  t.deepEqual(codes({ reasons: r }), ['DECLARED_MISMATCH']);
  t.regex(r[0]!.message, /does not identify its model \(chip GH100\)/);
});

test('the proven TEE is the CPU evidence\'s family unless any part chained to a simulated root', (t) => {
  t.is(provenTee({ cpuType: 'sev-snp', simulated: false, gpus: [] }), 'sev-snp');
  t.is(provenTee({ cpuType: 'tdx', simulated: false, gpus: [] }), 'tdx');
  t.is(provenTee({ cpuType: 'sev-snp', simulated: true, gpus: [] }), 'simulated');
  t.is(provenTee({ cpuType: 'simulated', simulated: false, gpus: [] }), 'simulated');
  t.deepEqual(declaredVsProven({ tee: 'sev-snp', gpus: { model: 'H100', count: 0 } }, { cpuType: 'sev-snp', simulated: false, gpus: [] }), []);
});
