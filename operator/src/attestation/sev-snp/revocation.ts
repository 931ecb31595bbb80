// Revocation of an SEV-SNP signing chain by AMD's CRLs. AMD's KDS serves, per product, a CRL signed by
// the ARK (/vcek/v1/{product}/crl, RSASSA-PSS): it judges the certificates the ARK issued, the ASK and
// ASVK. A certificate is judged only by a CRL its own issuer signed (serial numbers are per issuer,
// RFC 5280), so a VCEK or VLEK is judged by a CRL its ASK/ASVK signed when one is supplied.
//
// When the caller asks for the check (it passes CRLs, possibly none), the ARK's CRL is required: none is
// COLLATERAL_MISSING, one under the ARK's name that the ARK did not validly sign is COLLATERAL_INVALID,
// and so is one that is not current (thisUpdate after now, or nextUpdate before it). A listed serial is
// CERT_REVOKED. The newest validly signed CRL of an issuer decides (crl.ts newestCrlOf).
import { crlIssuedBy, isRevoked, newestCrlOf, parseCrl, type ParsedCrl } from '../crl.js';
import { reason, type Reason } from '../reasons.js';
import type { ParsedCertificate } from '../x509.js';

/** `path`: the verified chain, leaf first, ending at the trust anchor (the ARK). */
export function snpRevocationReasons(path: readonly ParsedCertificate[], crlDers: readonly Uint8Array[], now: Date): Reason[] {
  const crls: ParsedCrl[] = [];
  const out: Reason[] = [];
  for (const der of crlDers) {
    try {
      crls.push(parseCrl(der));
    } catch (err) {
      out.push(reason('COLLATERAL_INVALID', `an AMD CRL does not parse: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
  const rootIndex = path.length - 1;
  for (let i = 0; i < rootIndex; i++) {
    const subject = path[i]!;
    const issuer = path[i + 1]!;
    const name = issuer.subjectCommonName ?? issuer.subject;
    const crl = newestCrlOf(crls, issuer);
    if (!crl) {
      if (crls.some((c) => crlIssuedBy(c, issuer))) {
        out.push(reason('COLLATERAL_INVALID', `the CRL under ${name}'s name is not validly signed by it (bad signature, or its keyUsage lacks cRLSign)`));
      } else if (i + 1 === rootIndex) {
        out.push(reason('COLLATERAL_MISSING', `no CRL from ${name} was supplied (AMD's KDS serves it at /vcek/v1/<product>/crl); the ${subject.subjectCommonName ?? 'intermediate'} cannot be checked for revocation`));
      }
      continue;
    }
    if (crl.thisUpdate.getTime() > now.getTime() || (crl.nextUpdate && crl.nextUpdate.getTime() < now.getTime())) {
      out.push(reason('COLLATERAL_INVALID', `the CRL of ${name} is not current at ${now.toISOString()} (${crl.thisUpdate.toISOString()}..${crl.nextUpdate?.toISOString() ?? '?'})`));
      continue;
    }
    if (isRevoked(crl, subject)) out.push(reason('CERT_REVOKED', `certificate "${subject.subjectCommonName ?? subject.subject}" (serial ${subject.serialHex}) is revoked by ${name}'s CRL`));
  }
  return out;
}
