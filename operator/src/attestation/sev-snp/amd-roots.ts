// The AMD trust anchors the verifier pins, one ARK per generation, and the ASK (VCEK signer) and ASVK
// (VLEK signer) intermediates that ship with it so callers need not supply a chain. Pins are SHA-256 of
// the ARK DER (values in test/vectors/sev-snp/SOURCE.md, cross-checked against AMD KDS).
import type { TrustAnchor } from '../chain.js';
import { pinnedAnchor } from '../trust.js';
import { decodeCertificates } from '../evidence-input.js';
import { parseCertificate, type ParsedCertificate } from '../x509.js';
import type { Generation } from './tcb.js';
import * as pem from './roots/amd-certificates.js';

export const AMD_ARK_FINGERPRINTS: Record<Generation, string> = {
  Milan: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
  Genoa: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
  Turin: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
};

export interface AmdAnchor extends TrustAnchor {
  generation: Generation;
}

let anchors: AmdAnchor[] | undefined;
let intermediates: ParsedCertificate[] | undefined;

export function amdAnchors(): AmdAnchor[] {
  anchors ??= (
    [
      ['Milan', pem.ARK_MILAN_PEM],
      ['Genoa', pem.ARK_GENOA_PEM],
      ['Turin', pem.ARK_TURIN_PEM],
    ] as const
  ).map(([generation, text]) => ({ ...pinnedAnchor(`ARK-${generation}`, text, AMD_ARK_FINGERPRINTS[generation]), generation }));
  return anchors;
}

/** Built-in ASKs and ASVKs of every generation. */
export function amdIntermediates(): ParsedCertificate[] {
  intermediates ??= [pem.ASK_MILAN_PEM, pem.ASVK_MILAN_PEM, pem.ASK_GENOA_PEM, pem.ASVK_GENOA_PEM, pem.ASK_TURIN_PEM, pem.ASVK_TURIN_PEM].map((text) =>
    parseCertificate(decodeCertificates(text)[0]!),
  );
  return intermediates;
}
