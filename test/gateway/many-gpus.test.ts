// A replica with 16 GPUs: its full evidence would make a certificate larger than OpenSSL clients accept
// (100 KiB; the handshake fails with "excessive message size"), so the gateway leaves the GPU reports out
// of the certificate and the client gets all 16 in the answer to its own nonce, which it verifies and
// reports. With 1 GPU the certificate carries it.
import test from 'ava';
import { Attester } from '../../attester/src/attester.js';
import { RaTlsGateway } from '../../attester/src/gateway/gateway.js';
import { MAX_RA_TLS_CERTIFICATE_BYTES, parseRaTlsCertificate } from '../../attester/src/gateway/ra-tls-certificate.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { SimulatedCpuSource, SimulatedGpuSource } from '../../attester/src/simulated.js';
import type { Transport } from '../../attester/src/transport.js';
import { connectAttested } from '../../cli/src/client/index.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';

const offline: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

async function gatewayWith(t: { teardown(fn: () => unknown): void }, gpus: number) {
  const tee = await SimulatedTee.create({ gpus });
  const identity = AttesterIdentity.generate();
  const attester = new Attester({ subject: { kind: 'replica', namespace: 'ns', pod: 'p-0' }, identity, cpu: new SimulatedCpuSource(tee), gpu: new SimulatedGpuSource(tee), transport: offline });
  const gateway = new RaTlsGateway({
    identity,
    makeEvidence: async (nonce) => {
      const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
      return bundle;
    },
    upstreamPort: 9,
    usage: { prepareRequest: (_p, body) => body, createUsageTap: () => ({ write() {}, end() {} }) },
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  t.teardown(() => gateway.close());
  return { tee, gateway, port };
}

test('16 GPUs: the certificate stays under the TLS limit without GPU reports, and the client verifies all 16 from its nonce', async (t) => {
  const { tee, gateway, port } = await gatewayWith(t, 16);
  const served = gateway.certificate!;
  t.true(served.der.length <= MAX_RA_TLS_CERTIFICATE_BYTES, `${served.der.length} bytes`);
  t.deepEqual(parseRaTlsCertificate(served.der).evidence.gpus, []);
  const connection = await connectAttested({ host: '127.0.0.1', port, policy: tee.policy() });
  connection.close();
  t.true(connection.verdict.verified);
  t.true(connection.verdict.freshEvidence);
  t.is(connection.verdict.gpus.length, 16);
  t.true(connection.verdict.gpus.every((g) => g.model === 'H100'));
});

test('1 GPU: the certificate carries the GPU report', async (t) => {
  const { gateway } = await gatewayWith(t, 1);
  t.is(parseRaTlsCertificate(gateway.certificate!.der).evidence.gpus.length, 1);
});
