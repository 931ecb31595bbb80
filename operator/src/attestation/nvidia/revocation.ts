// Certificate status of NVIDIA chains by OCSP (ocsp.ts), as NVIDIA's own verifier asks it: in a GPU's
// device chain every certificate NVIDIA's CAs issued (the BROM's, the Provisioner ICA's, the GH100
// Identity's: not the FMC leaf, which the GPU makes itself, nor the root); in a RIM signing chain every
// certificate but the root. Each is judged by the responses given, signed by its issuer or the issuer's
// delegated responder: revoked (any reason, certificateHold included) is CERT_REVOKED; no usable
// response or status unknown is COLLATERAL_MISSING; a response that is not current is COLLATERAL_INVALID.
import { judgeOcsp, parseOcspResponse, type ParsedOcspResponse } from '../ocsp.js';
import { reason, type Reason } from '../reasons.js';
import type { ParsedCertificate } from '../x509.js';

/** The (certificate, issuer) pairs whose status is checked; `path` leaf first, root last. */
export function ocspPairs(path: readonly ParsedCertificate[], kind: 'gpu' | 'rim'): [ParsedCertificate, ParsedCertificate][] {
  const out: [ParsedCertificate, ParsedCertificate][] = [];
  for (let i = kind === 'gpu' ? 1 : 0; i < path.length - 1; i++) out.push([path[i]!, path[i + 1]!]);
  return out;
}

export function parseResponses(ders: readonly Uint8Array[]): ParsedOcspResponse[] {
  const out: ParsedOcspResponse[] = [];
  for (const der of ders) {
    try {
      out.push(parseOcspResponse(der));
    } catch {
      // One that does not parse answers for nothing; the certificates it was meant for are then missing.
    }
  }
  return out;
}

/** Reasons against a verified chain (leaf first, root last) from the OCSP responses given. */
export function chainOcspReasons(path: readonly ParsedCertificate[], kind: 'gpu' | 'rim', responses: readonly ParsedOcspResponse[], now: Date): Reason[] {
  const out: Reason[] = [];
  for (const [cert, issuer] of ocspPairs(path, kind)) {
    const name = `"${cert.subjectCommonName ?? cert.subject}" (serial ${cert.serialHex})`;
    const j = judgeOcsp(cert, issuer, responses, now);
    if (j.status === 'revoked') {
      const why = j.single.revocationReason === 6 ? ', on hold' : j.single.revocationReason !== undefined ? `, reason ${j.single.revocationReason}` : '';
      out.push(reason('CERT_REVOKED', `certificate ${name} is revoked according to OCSP${j.single.revokedAt ? ` since ${j.single.revokedAt.toISOString()}` : ''}${why}`));
    } else if (j.status === 'unknown') {
      out.push(reason('COLLATERAL_MISSING', `the OCSP responder does not know certificate ${name} (status unknown)`));
    } else if (j.status === 'missing') {
      out.push(reason('COLLATERAL_MISSING', `no OCSP status for certificate ${name}: ${j.problem}`));
    } else if (j.status === 'stale') {
      out.push(reason('COLLATERAL_INVALID', `certificate ${name}: ${j.problem}`));
    }
  }
  return out;
}
