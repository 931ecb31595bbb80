// attestation.tls.generate.ipAddresses puts IP addresses into the generated certificate (a client that
// reaches the service through a local port checks the address); by default it names none.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { one, render } from './helm.js';

async function certificate(set: string[]) {
  const secret = one(await render({ set }), 'Secret', (o) => o.metadata.name.endsWith('-attestation-tls'));
  return new X509Certificate(Buffer.from((secret.data as Record<string, string>)['tls.crt']!, 'base64'));
}

test('the generated certificate names the given IP addresses, and none by default', async (t) => {
  const withIp = await certificate(['attestation.tls.generate.ipAddresses[0]=127.0.0.1']);
  t.is(withIp.checkIP('127.0.0.1'), '127.0.0.1');
  t.truthy(withIp.checkHost('chry-chrysalis-attestation.chrysalis-system.svc'));
  t.is((await certificate([])).checkIP('127.0.0.1'), undefined);
});
