// Which roots a verification trusts: the family's pinned vendor roots, plus roots a policy adds for the
// simulated TEE. A chain that ends at a policy-added root is "simulated" and is accepted only when the
// policy also says allowSimulated.
import type { TrustAnchor } from './chain.js';
import { decodeCertificates } from './evidence-input.js';
import type { VerifierPolicy } from './policy.js';
import { AttestationError, reason, type Reason } from './reasons.js';
import { isSelfSigned, parseCertificate } from './x509.js';

/** A pinned vendor root: its PEM plus the fingerprint it must have. */
export function pinnedAnchor(name: string, pem: string, sha256Fingerprint: string): TrustAnchor {
  const [der] = decodeCertificates(pem, name);
  const cert = parseCertificate(der!);
  // The constant and the pin live in different files; a mismatch is a build defect, never a runtime choice.
  if (cert.fingerprint !== sha256Fingerprint) throw new Error(`built-in root ${name} does not match its pinned fingerprint`);
  return { name, cert, simulated: false };
}

/** Roots from policy.trustedRoots (PEM). Throws POLICY_INVALID when one is not a self-signed certificate. */
export function policyAnchors(policy: VerifierPolicy): TrustAnchor[] {
  const out: TrustAnchor[] = [];
  for (const [i, pem] of (policy.trustedRoots ?? []).entries()) {
    let ders: Uint8Array[];
    try {
      ders = decodeCertificates(pem, `trustedRoots[${i}]`);
    } catch (err) {
      throw new AttestationError('POLICY_INVALID', `policy field trustedRoots[${i}]: ${(err as Error).message}`);
    }
    for (const der of ders) {
      const cert = parseCertificate(der);
      if (!isSelfSigned(cert)) throw new AttestationError('POLICY_INVALID', `policy field trustedRoots[${i}]: "${cert.subject}" is not a self-signed root`);
      out.push({ name: `policy root ${cert.subjectCommonName ?? cert.subject}`, cert, simulated: true });
    }
  }
  return out;
}

export function simulatedAnchorReasons(anchor: TrustAnchor, policy: VerifierPolicy): Reason[] {
  if (anchor.simulated && policy.allowSimulated !== true) {
    return [reason('SIMULATED_NOT_ALLOWED', `the evidence chains to ${anchor.name}, a policy-added (simulated) root, but the policy does not set allowSimulated`)];
  }
  return [];
}
