// The operator configuration's `collateral` section: defaults, and a clear error naming the key for
// anything unusable (so a typo never silently leaves the service without collateral).
import test from 'ava';
import { DEFAULT_COLLATERAL_CONFIG } from '../../operator/src/attestation/collateral/config.js';
import { crlDer } from '../../operator/src/attestation/collateral/intel-pcs.js';
import { ConfigError, parseOperatorConfig } from '../../operator/src/config.js';
import { readVector } from './vectors.js';

test('without a collateral section nothing is fetched and the refresh defaults apply', (t) => {
  const config = parseOperatorConfig('schedulerName: chrysalis');
  t.deepEqual(config.collateral, DEFAULT_COLLATERAL_CONFIG);
  t.is(config.collateral.intelPcsUrl, undefined);
});

test('a PCCS URL, a CA file and refresh times are read from the collateral section', (t) => {
  const config = parseOperatorConfig('collateral:\n  intelPcsUrl: https://pccs.kube-system.svc:8081\n  caFile: /etc/chrysalis/pccs-ca.pem\n  refreshBeforeSeconds: 3600\n');
  t.is(config.collateral.intelPcsUrl, 'https://pccs.kube-system.svc:8081');
  t.is(config.collateral.caFile, '/etc/chrysalis/pccs-ca.pem');
  t.is(config.collateral.refreshBeforeSeconds, 3600);
  t.is(config.collateral.refreshIntervalSeconds, DEFAULT_COLLATERAL_CONFIG.refreshIntervalSeconds);
});

for (const [yaml, message] of [
  ['collateral:\n  intelPcsURL: https://x', /collateral: unknown key "intelPcsURL"/],
  ['collateral:\n  intelPcsUrl: ftp://pccs', /collateral\.intelPcsUrl must be an http\(s\) URL/],
  ['collateral:\n  intelPcsUrl: https://user:secret@pccs', /collateral\.intelPcsUrl must not carry credentials/],
  ['collateral:\n  intelPcsUrl: https://pccs\n  refreshIntervalSeconds: 5', /collateral\.refreshIntervalSeconds must be an integer between 60/],
  ['collateral:\n  intelRootCrlUrl: https://certificates.trustedservices.intel.com/IntelSGXRootCA.der', /intelRootCrlUrl needs intelPcsUrl/],
  ['collateral: https://pccs', /collateral must be a mapping/],
] as const) {
  test(`an unusable collateral section is refused naming the key: ${yaml.replace(/\n\s*/g, ' ')}`, (t) => {
    const err = t.throws(() => parseOperatorConfig(yaml, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, message);
    t.notRegex(err!.message, /secret/, 'a credential in a URL is not repeated in the error');
  });
}

test('a CRL answer is read as DER, PEM or hex text (PCCS versions differ), and anything else is refused', (t) => {
  const der = readVector('tdx', 'attestation-rs/pck_crl_platform.der');
  const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END X509 CRL-----\n`;
  t.deepEqual(crlDer(der, 'crl'), der);
  t.deepEqual(crlDer(new Uint8Array(Buffer.from(pem)), 'crl'), der);
  t.deepEqual(crlDer(new Uint8Array(Buffer.from(Buffer.from(der).toString('hex'))), 'crl'), der);
  t.throws(() => crlDer(new Uint8Array(Buffer.from('<html>not found</html>')), 'crl'), { message: /neither DER, PEM nor hex/ });
});
