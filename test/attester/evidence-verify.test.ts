// The evidence the attester produces — through a directory laid out like configfs TSM backed by the
// simulated TEE, and through the simulated source directly — is accepted by the project's verifier
// (verifyEvidenceBundle, simulated root trusted with allowSimulated) only for the right nonce and key.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Attester } from '../../attester/src/attester.js';
import { buildCertTable } from '../../attester/src/cpu/cert-table.js';
import { TsmCpuSource } from '../../attester/src/cpu/source.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { verifyEvidenceBundle } from '../../operator/src/attestation/bundle.js';
import type { EvidenceRequest } from '../../operator/src/attestation/service/protocol.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { FakeTsm } from './_fixture.js';

const tee = await SimulatedTee.create({ gpus: 2 });
const policy = tee.policy();

/** The simulated platform behind the fake configfs: outblob = the SNP report, auxblob = the cert table. */
function simulatedSevGuest(reportData: Uint8Array) {
  const e = tee.snpReport({ reportData });
  return { outblob: e.report, auxblob: buildCertTable({ vcek: e.vcek, ask: e.chain[0]!, ark: e.chain[1]! }) };
}

const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

function verify(request: EvidenceRequest, nonce: Uint8Array) {
  const { subject: _subject, ...bundle } = request;
  return verifyEvidenceBundle(bundle, { nonce, policy, now: new Date(), expectedGpuCount: 2 });
}

const codes = (v: { reasons: { code: string }[] }) => [...new Set(v.reasons.map((r) => r.code))].sort();

async function tsmAttester(races = 0) {
  const tsm = await FakeTsm.create({ generate: simulatedSevGuest, races });
  const cpu = new TsmCpuSource({ root: tsm.root, io: tsm });
  const attester = new Attester({ subject: { kind: 'node', nodeName: 'gpu-1' }, cpu, gpu: new SimulatedGpuSource(tee), transport: offline });
  return { tsm, cpu, attester };
}

test('evidence from the configfs TSM layout verifies for the right nonce and key, as sev-snp under the simulated root', async (t) => {
  const { tsm, attester } = await tsmAttester();
  t.teardown(() => tsm.cleanup());
  const nonce = randomBytes(32);
  const request = await attester.buildEvidence(nonce.toString('hex'));
  t.is(request.cpu.type, 'sev-snp');
  t.is(request.publicKey, attester.identity.publicKeyHex);
  const v = verify(request, nonce);
  t.deepEqual(v.reasons, []);
  t.true(v.verified);
  t.true(v.claims.simulated);
  t.is(v.claims.gpus.length, 2);
});

test('TSM evidence presented for another nonce is rejected with NONCE_MISMATCH', async (t) => {
  const { tsm, attester } = await tsmAttester();
  t.teardown(() => tsm.cleanup());
  const request = await attester.buildEvidence(randomBytes(32).toString('hex'));
  const v = verify(request, randomBytes(32));
  t.false(v.verified);
  t.deepEqual(codes(v), ['NONCE_MISMATCH']);
});

test('TSM evidence relabelled with the new nonce (a replay) fails the CPU binding and the GPU binding', async (t) => {
  const { tsm, attester } = await tsmAttester();
  t.teardown(() => tsm.cleanup());
  const request = await attester.buildEvidence(randomBytes(32).toString('hex'));
  const fresh = randomBytes(32);
  const v = verify({ ...request, nonce: fresh.toString('hex') }, fresh);
  t.false(v.verified);
  // Both the CPU report_data and the GPUs' derived SPDM nonce were made for the old challenge.
  t.deepEqual(codes(v), ['BINDING_MISMATCH']);
  t.is(v.reasons.filter((r) => r.code === 'BINDING_MISMATCH').length, 3);
});

test('TSM evidence claimed for another key is rejected with BINDING_MISMATCH', async (t) => {
  const { tsm, attester } = await tsmAttester();
  t.teardown(() => tsm.cleanup());
  const nonce = randomBytes(32);
  const request = await attester.buildEvidence(nonce.toString('hex'));
  const v = verify({ ...request, publicKey: AttesterIdentity.generate().publicKeyHex }, nonce);
  t.false(v.verified);
  t.deepEqual(codes(v), ['BINDING_MISMATCH']);
});

test('a generation change mid-read is retried and the evidence still verifies', async (t) => {
  const { tsm, cpu, attester } = await tsmAttester(1);
  t.teardown(() => tsm.cleanup());
  const nonce = randomBytes(32);
  const request = await attester.buildEvidence(nonce.toString('hex'));
  t.is(tsm.racesInjected, 1);
  t.is(cpu.lastAttempts, 2);
  t.true(verify(request, nonce).verified);
});

test('without allowSimulated the same TSM evidence is refused (the simulated root is no vendor root)', async (t) => {
  const { tsm, attester } = await tsmAttester();
  t.teardown(() => tsm.cleanup());
  const nonce = randomBytes(32);
  const { subject: _s, ...bundle } = await attester.buildEvidence(nonce.toString('hex'));
  const v = verifyEvidenceBundle(bundle, { nonce, policy: { trustedRoots: [tee.rootPem] }, now: new Date() });
  t.false(v.verified);
  t.true(codes(v).includes('SIMULATED_NOT_ALLOWED'));
});

test('the simulated source\'s evidence verifies for the right nonce and key and only for them', async (t) => {
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const nonce = randomBytes(32);
  const request = await attester.buildEvidence(nonce.toString('hex'));
  t.is(request.cpu.type, 'simulated');
  t.true(verify(request, nonce).verified);
  t.deepEqual(codes(verify(request, randomBytes(32))), ['NONCE_MISMATCH']);
  t.deepEqual(codes(verify({ ...request, publicKey: AttesterIdentity.generate().publicKeyHex }, nonce)), ['BINDING_MISMATCH']);
});
