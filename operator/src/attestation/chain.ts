// Certificate path validation shared by every family: from a leaf through supplied intermediates to a
// trust anchor, checking each link's signature, that each issuer is a CA, and each certificate's validity
// at the injected time. Anchors are matched by fingerprint, never by name, so a look-alike root (same
// subject, different key) is just another untrusted certificate.
import { reason, type Reason } from './reasons.js';
import { isSelfSigned, isSignedBy, namesIssuer, type ParsedCertificate } from './x509.js';

export interface TrustAnchor {
  /** Short name for messages and claims, e.g. "ARK-Milan". */
  name: string;
  cert: ParsedCertificate;
  /** True for roots a policy added (the simulated TEE); false for pinned vendor roots. */
  simulated: boolean;
}

export type ChainResult =
  | { ok: true; path: ParsedCertificate[]; anchor: TrustAnchor; reasons: Reason[] }
  | { ok: false; reasons: Reason[] };

const MAX_DEPTH = 8;

function describe(cert: ParsedCertificate): string {
  return cert.subjectCommonName ? `"${cert.subjectCommonName}"` : `"${cert.subject}"`;
}

/**
 * Builds leaf → … → anchor and verifies it. On success `reasons` holds validity problems (expired / not
 * yet valid), which callers report with the path: the path is authentic but not usable now.
 */
export function verifyChain(
  leaf: ParsedCertificate,
  intermediates: readonly ParsedCertificate[],
  anchors: readonly TrustAnchor[],
  now: Date,
): ChainResult {
  const anchorByFingerprint = new Map(anchors.map((a) => [a.cert.fingerprint, a]));
  let lastFailure = `no issuer of ${describe(leaf)} is among the trusted roots or supplied certificates`;

  const extend = (path: ParsedCertificate[]): { path: ParsedCertificate[]; anchor: TrustAnchor } | undefined => {
    const current = path[path.length - 1]!;
    const anchorItself = anchorByFingerprint.get(current.fingerprint);
    if (anchorItself) {
      // A root certificate itself must be self-signed to be meaningful as a path end.
      if (isSelfSigned(current)) return { path, anchor: anchorItself };
      lastFailure = `trusted root ${describe(current)} is not validly self-signed`;
      return undefined;
    }
    if (path.length > MAX_DEPTH) return undefined;
    const candidates = [...anchors.map((a) => a.cert), ...intermediates];
    for (const issuer of candidates) {
      if (path.some((p) => p.fingerprint === issuer.fingerprint)) continue;
      if (!namesIssuer(current, issuer)) continue;
      if (issuer.x509.ca !== true) {
        lastFailure = `${describe(issuer)} is not a CA certificate but is named as the issuer of ${describe(current)}`;
        continue;
      }
      if (!isSignedBy(current, issuer)) {
        lastFailure = `signature of ${describe(issuer)} over ${describe(current)} does not verify`;
        continue;
      }
      const found = extend([...path, issuer]);
      if (found) return found;
    }
    if (!candidates.some((c) => namesIssuer(current, c) && c.fingerprint !== current.fingerprint)) {
      lastFailure = `no issuer of ${describe(current)} is among the trusted roots or supplied certificates`;
    }
    return undefined;
  };

  const found = extend([leaf]);
  if (!found) return { ok: false, reasons: [reason('CHAIN_UNTRUSTED', lastFailure)] };

  const reasons: Reason[] = [];
  for (const cert of found.path) {
    if (now.getTime() > cert.notAfter.getTime()) {
      reasons.push(reason('CERT_EXPIRED', `certificate ${describe(cert)} expired at ${cert.notAfter.toISOString()} (verification time ${now.toISOString()})`));
    } else if (now.getTime() < cert.notBefore.getTime()) {
      reasons.push(reason('CERT_NOT_YET_VALID', `certificate ${describe(cert)} is not valid before ${cert.notBefore.toISOString()} (verification time ${now.toISOString()})`));
    }
  }
  return { ok: true, path: found.path, anchor: found.anchor, reasons };
}
