// The client passes TDX collateral to the verifier: a certificate carrying a genuine TDX quote (Intel's
// go-tdx-guest sample) is judged with it, so COLLATERAL_MISSING goes away and what remains is the binding
// (that quote's report_data is not SHA-512(nonce ‖ this key), so it can never pass as this replica).
// The clock is pinned to the vectors' collateral.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { buildRaTlsCertificate, raTlsNonce } from '../../attester/src/gateway/ra-tls-certificate.js';
import { AttesterIdentity } from '../../attester/src/identity.js';
import { checkCertificate } from '../../cli/src/client/verify-replica.js';
import { collateralFromFiles } from '../../operator/src/attestation/tdx/collateral.js';
import { readVector, TDX_TIME, vectorPath } from '../attestation/vectors.js';

const dir = vectorPath('tdx', 'attestation-rs');
const collateral = collateralFromFiles(readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${dir}/${name}`)) })));
const identity = AttesterIdentity.generate();
const notBefore = new Date(TDX_TIME.getTime() - 60_000);
const cert = buildRaTlsCertificate({
  publicKey: identity.publicKey,
  sign: (tbs) => identity.sign(tbs),
  evidence: { nonce: Buffer.from(raTlsNonce(notBefore)).toString('hex'), publicKey: identity.publicKeyHex, cpu: { type: 'tdx', quote: Buffer.from(readVector('tdx', 'go-tdx-guest/quote_v5_sample.dat')).toString('base64') }, gpus: [] },
  notBefore,
  notAfter: new Date(notBefore.getTime() + 600_000),
});
const codes = (reasons: { code: string }[]) => [...new Set(reasons.map((r) => r.code))].sort();

test('without collateral a TDX replica fails COLLATERAL_MISSING under a policy that requires it', (t) => {
  const { verdict } = checkCertificate(cert.der, { policy: {}, now: TDX_TIME });
  t.false(verdict.verified);
  t.true(codes(verdict.reasons).includes('COLLATERAL_MISSING'), JSON.stringify(verdict.reasons));
});

test('with collateral the quote is judged on it: only the binding to this key fails', (t) => {
  const { verdict } = checkCertificate(cert.der, { policy: {}, now: TDX_TIME, tdxCollateral: collateral });
  t.false(verdict.verified);
  t.deepEqual(codes(verdict.reasons), ['BINDING_MISMATCH']);
  t.is(verdict.tee, 'tdx');
});
