// The gateway retries transient evidence failures (a configfs-tsm entry raced by the attestation loop,
// which asks the same TSM): its first certificate is made on the second try, and a client's nonce is
// answered after one; a failure that is not transient is not retried and the gateway does not start.
import test from 'ava';
import { Attester } from '../../attester/src/attester.js';
import { AttesterError } from '../../attester/src/errors.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { connectAttested } from '../../cli/src/client/index.js';
import type { EvidenceBundle } from '../../operator/src/attestation/bundle.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const tee = await SimulatedTee.create({ gpus: 0 });
const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};
const noUsage = { prepareRequest: (_p: string, body: Buffer) => body, createUsageTap: () => ({ write() {}, end() {} }) };

/** Evidence that fails with `error` on every odd call (the first of each pair), then succeeds. */
function flaky(identity: AttesterIdentity, error: () => Error) {
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  let calls = 0;
  const make = async (nonce: Uint8Array): Promise<EvidenceBundle> => {
    calls++;
    if (calls % 2 === 1) throw error();
    const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
    return bundle;
  };
  return { make, calls: () => calls };
}

test('a transient evidence failure is retried, for the certificate and for a client nonce', async (t) => {
  const identity = AttesterIdentity.generate();
  const evidence = flaky(identity, () => new AttesterError('TSM_FAILED', 'another writer changed TSM entry', { transient: true }));
  const gateway = new RaTlsGateway({ identity, makeEvidence: evidence.make, upstreamPort: 9, usage: noUsage, sleep: async () => undefined });
  t.teardown(() => gateway.close());
  const { port } = await gateway.listen(0, '127.0.0.1');
  t.is(evidence.calls(), 2);
  const connection = await connectAttested({ host: '127.0.0.1', port, policy: tee.policy() });
  connection.close();
  t.true(connection.verdict.freshEvidence);
  t.is(evidence.calls(), 4);
});

test('a failure that is not transient is not retried: no certificate, the gateway does not listen', async (t) => {
  const identity = AttesterIdentity.generate();
  const evidence = flaky(identity, () => new AttesterError('TSM_UNAVAILABLE', 'no configfs TSM'));
  const gateway = new RaTlsGateway({ identity, makeEvidence: evidence.make, upstreamPort: 9, usage: noUsage, sleep: async () => undefined });
  await t.throwsAsync(gateway.listen(0, '127.0.0.1'), { message: /no configfs TSM/ });
  t.is(evidence.calls(), 1);
  t.is(gateway.certificate, undefined);
});
