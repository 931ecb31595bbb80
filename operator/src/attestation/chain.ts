// Certificate path validation shared by every family: from a leaf through supplied intermediates to a
// trust anchor, checking each link's signature, each certificate's validity at the injected time, and the
// RFC 5280 §6.1 constraints a certificate puts on its own use: an issuer must say cA TRUE in
// basicConstraints and keyCertSign in keyUsage, its pathLenConstraint bounds the CAs below it, the leaf
// (which always signs evidence or collateral here) must not exclude digitalSignature, and a critical
// extension this code does not process rejects the certificate. Anchors are matched by fingerprint, never
// by name, so a look-alike root (same subject, different key) is just another untrusted certificate.
import { reason, type Reason } from './reasons.js';
import { isSelfSigned, isSignedBy, namesIssuer, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, type KeyUsage, type ParsedCertificate } from './x509.js';

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

/**
 * The critical extensions path validation enforces. Any other critical extension (name constraints,
 * policy constraints, a vendor's) means the issuer limited the certificate in a way this code would
 * ignore, so the certificate is rejected (RFC 5280 4.2). No certificate in the vendor chains marks
 * anything else critical.
 */
const ENFORCED_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE]);

export interface ChainOptions {
  /**
   * What the leaf's key is for. Default { usage: 'digitalSignature', required: false }: every leaf here
   * verifies a signature over evidence or collateral, so a keyUsage without digitalSignature is refused,
   * while a leaf with no keyUsage at all passes (AMD's VCEK/VLEK carry none). Families whose signing
   * certificates always carry keyUsage set required: true.
   */
  leafKeyUsage?: { usage: KeyUsage; required: boolean };
}

function describe(cert: ParsedCertificate): string {
  return cert.subjectCommonName ? `"${cert.subjectCommonName}"` : `"${cert.subject}"`;
}

function unenforcedCritical(cert: ParsedCertificate): string | undefined {
  const unknown = cert.criticalExtensions.filter((oid) => !ENFORCED_CRITICAL_EXTENSIONS.has(oid));
  return unknown.length ? `certificate ${describe(cert)} has critical extension(s) ${unknown.join(', ')} that this verifier does not process` : undefined;
}

function selfIssued(cert: ParsedCertificate): boolean {
  return Buffer.compare(cert.issuerDer, cert.subjectDer) === 0;
}

/** Why `issuer` may not sign the last certificate of `path` (leaf first), or undefined if it may. */
function issuerConstraintViolation(issuer: ParsedCertificate, path: readonly ParsedCertificate[]): string | undefined {
  const current = path[path.length - 1]!;
  if (issuer.basicConstraints?.ca !== true) return `${describe(issuer)} is not a CA certificate (basicConstraints cA) but is named as the issuer of ${describe(current)}`;
  if (!issuer.keyUsage?.has('keyCertSign')) return `${describe(issuer)} may not sign certificates (its keyUsage lacks keyCertSign) but is named as the issuer of ${describe(current)}`;
  // pathLenConstraint counts the intermediate CAs between this issuer and the leaf, self-issued ones aside.
  const below = path.slice(1).filter((c) => !selfIssued(c)).length;
  const limit = issuer.basicConstraints.pathLen;
  if (limit !== undefined && below > limit) return `${describe(issuer)} allows ${limit} intermediate CA(s) below it (pathLenConstraint), the path has ${below}`;
  return unenforcedCritical(issuer);
}

function leafViolation(leaf: ParsedCertificate, options: ChainOptions): string | undefined {
  const { usage, required } = options.leafKeyUsage ?? { usage: 'digitalSignature', required: false };
  if (leaf.keyUsage && !leaf.keyUsage.has(usage)) return `certificate ${describe(leaf)} has a keyUsage without ${usage}`;
  if (!leaf.keyUsage && required) return `certificate ${describe(leaf)} has no keyUsage; this family's certificates in that place carry ${usage}`;
  return unenforcedCritical(leaf);
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
  options: ChainOptions = {},
): ChainResult {
  const leafProblem = leafViolation(leaf, options);
  if (leafProblem) return { ok: false, reasons: [reason('CHAIN_UNTRUSTED', leafProblem)] };
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
      const violation = issuerConstraintViolation(issuer, path);
      if (violation) {
        lastFailure = violation;
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
