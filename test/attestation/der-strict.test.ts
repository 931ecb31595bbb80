// The DER reader accepts one encoding per value: definite lengths in the fewest octets, primitive
// strings, minimal INTEGERs, BOOLEAN as 0x00/0xFF. BER's alternatives would let one certificate or CRL
// travel under many byte strings (and many fingerprints); every real vector is DER and still parses.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { readSingle } from '../../operator/src/attestation/der.js';
import { parseCrl } from '../../operator/src/attestation/crl.js';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';
import { parseTdxQuote } from '../../operator/src/attestation/tdx/quote.js';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';
import { certsOf, readVector, vectorPath } from './vectors.js';

const der = (...bytes: number[]) => Uint8Array.from(bytes);
const malformed = (t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp) => {
  const err = t.throws(() => readSingle(bytes), { instanceOf: AttestationError });
  t.is(err!.code, 'MALFORMED_EVIDENCE');
  t.regex(err!.message, pattern);
};

test('a length of 128 or more with a leading zero octet is refused', (t) => {
  malformed(t, der(0x04, 0x82, 0x00, 0x80, ...new Array(0x80).fill(0)), /leading zero/);
  t.is(readSingle(der(0x04, 0x81, 0x80, ...new Array(0x80).fill(0))).content.length, 0x80);
});

test('the long form for a length under 128 is refused', (t) => {
  malformed(t, der(0x04, 0x81, 0x05, 1, 2, 3, 4, 5), /long form/);
  malformed(t, der(0x04, 0x82, 0x00, 0x05, 1, 2, 3, 4, 5), /non-minimal/);
});

test('the indefinite length (0x80, end-of-contents octets) is refused', (t) => {
  malformed(t, der(0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00), /indefinite/);
});

test('a nested non-minimal length is refused, not just the outermost', (t) => {
  malformed(t, der(0x30, 0x81, 0x84, 0x04, 0x82, 0x00, 0x80, ...new Array(0x80).fill(0)), /leading zero/);
  malformed(t, der(0x30, 0x04, 0x04, 0x81, 0x01, 0x00), /long form/);
});

test('constructed (BER) OCTET STRING and BIT STRING forms are refused', (t) => {
  malformed(t, der(0x24, 0x03, 0x04, 0x01, 0xaa), /constructed form/);
  malformed(t, der(0x23, 0x04, 0x03, 0x02, 0x00, 0xaa), /constructed form/);
});

test('a non-minimal INTEGER and a BOOLEAN other than 0x00/0xFF are refused', (t) => {
  malformed(t, der(0x02, 0x02, 0x00, 0x01), /non-minimal INTEGER/);
  malformed(t, der(0x02, 0x02, 0xff, 0x80), /non-minimal INTEGER/);
  t.is(readSingle(der(0x02, 0x02, 0x00, 0x80)).content.length, 2);
  malformed(t, der(0x02, 0x00), /empty INTEGER/);
  malformed(t, der(0x30, 0x03, 0x01, 0x01, 0x01), /BOOLEAN/);
});

test('a real AMD ASK re-encoded with a zero-padded length is not a certificate, though OpenSSL would take it', (t) => {
  const [ask] = certsOf('sev-snp', 'go-sev-guest/ask_ark_milan.pem');
  t.deepEqual([...ask!.subarray(0, 2)], [0x30, 0x82]);
  const padded = Uint8Array.from([0x30, 0x83, 0x00, ...ask!.subarray(2)]);
  t.notThrows(() => new X509Certificate(padded), 'OpenSSL accepts the BER length, so the check is ours');
  const err = t.throws(() => parseCertificate(padded), { instanceOf: AttestationError });
  t.is(err!.code, 'MALFORMED_EVIDENCE');
});

test('every certificate and CRL in the vectors is strict DER and parses', (t) => {
  const pems = [
    ...readdirSync(vectorPath('sev-snp', 'go-sev-guest')).filter((f) => f.endsWith('.pem')).map((f) => `go-sev-guest/${f}`),
    'attestation-rs-azure/vcek.pem',
  ];
  const certs: Uint8Array[] = [
    ...pems.flatMap((f) => certsOf('sev-snp', f)),
    ...['go-sev-guest/vcek.testcer', 'trustee/test-vcek.der', 'trustee/test-vlek.der', 'virtee-sev/vcek_milan.der', 'virtee-sev/vcek_turin.der'].flatMap((f) => certsOf('sev-snp', f)),
    ...certsOf('tdx', 'attestation-rs/tcb_signing_chain.pem'),
    ...certsOf('tdx', 'go-tdx-guest/trusted_root.pem'),
    ...['go-tdx-guest/quote_v5_sample.dat', 'go-tdx-guest/tdx_prod_quote_SPR_E4.dat', 'trustee/tdx_quote_4.dat', 'trustee/tdx_quote_5.dat'].flatMap((f) => decodeCertificates(parseTdxQuote(readVector('tdx', f)).pckChainPem)),
    ...['nvtrust/hopperCertChain.txt', 'nvtrust/verifier_device_root.pem', 'nvtrust/verifier_RIM_root.pem', 'trustee/hopper_coco_certs1.txt', 'trustee/hopper_cert_chain_case3.txt', 'trustee/hopper_cert_chain_case4.txt'].flatMap((f) => certsOf('nvidia-h100', f)),
  ];
  t.true(certs.length > 40);
  for (const c of certs) t.notThrows(() => parseCertificate(c));
  for (const f of ['attestation-rs/pck_crl_platform.der', 'attestation-rs/root_ca_crl.der', 'go-tdx-guest/pckcrl', 'go-tdx-guest/rootcrl.der']) {
    t.notThrows(() => parseCrl(new Uint8Array(readFileSync(vectorPath('tdx', f)))), f);
  }
});
