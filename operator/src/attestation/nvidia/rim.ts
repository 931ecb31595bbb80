// NVIDIA reference integrity manifests (RIMs): the signed SWID tags (ISO/IEC 19770-2 with TCG RIM Meta)
// that carry a GPU driver's or VBIOS's reference measurements. A RIM is read only after its enveloped
// signature verifies with the first certificate of its KeyInfo, and that certificate chains to the pinned
// NVIDIA CoRIM signing Root CA (or, for tests and the simulated TEE, a policy-added root, which makes the
// result simulated). Each `Resource type="Measurement"` is one reference value: index i (0-based) is the
// SPDM measurement block i + 1; `active="False"` entries are not compared; Hash0..Hash{alternatives-1}
// (attributes in the xmlenc#sha384 namespace) are the values any one of which the block may have.
import { verifyChain, type TrustAnchor } from '../chain.js';
import { AttestationError, reason, reasonFromError, type Reason } from '../reasons.js';
import { parseCertificate, type ParsedCertificate } from '../x509.js';
import { attribute, childElements, parseXml, type XmlElement } from './xml.js';
import { readEnvelopedSignature } from './xmldsig.js';

export const SWID_NS = 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd';
export const HASH_NS = 'http://www.w3.org/2001/04/xmlenc#sha384';
const SHA384_BYTES = 48;

export interface ReferenceMeasurement {
  /** 0-based RIM index (SPDM block index - 1). */
  index: number;
  name: string;
  active: boolean;
  /** Lower-case hex, one per alternative. */
  values: string[];
  size: number;
}

export interface RimManifest {
  /** Meta colloquialVersion: the driver version ("580.95.05") or VBIOS version ("96.00.74.00.1A"). */
  version: string;
  /** Meta product: the GPU chip, e.g. "GH100". */
  product: string;
  tagId: string;
  measurements: Map<number, ReferenceMeasurement>;
  signer: string;
  root: string;
  simulated: boolean;
  /** The signer's verified path, signer first, root last (its certificates' OCSP status is judged on it). */
  path?: ParsedCertificate[];
}

export type RimResult = { ok: true; manifest: RimManifest; reasons: [] } | { ok: false; reasons: Reason[] };

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `RIM: ${message}`);
}

function only(parent: XmlElement, local: string): XmlElement {
  const found = childElements(parent).filter((e) => e.ns === SWID_NS && e.local === local);
  if (found.length !== 1) fail(`<${parent.qname}> holds ${found.length} ${local} elements; exactly one is expected`);
  return found[0]!;
}

function required(element: XmlElement, name: string, ns = ''): string {
  const value = attribute(element, name, ns);
  if (value === undefined || value === '') fail(`<${element.qname}> has no ${name}`);
  return value;
}

function decimal(text: string, what: string, max: number): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > max) fail(`${what} "${text}" is not an integer from 0 to ${max}`);
  return Number(text);
}

function readMeasurements(payload: XmlElement): Map<number, ReferenceMeasurement> {
  const out = new Map<number, ReferenceMeasurement>();
  for (const r of childElements(payload)) {
    if (r.ns !== SWID_NS || r.local !== 'Resource') fail(`Payload holds <${r.qname}>; only Resource elements are expected`);
    if (attribute(r, 'type') !== 'Measurement') fail(`a Resource has type "${attribute(r, 'type') ?? '(none)'}"; only Measurement is expected`);
    const index = decimal(required(r, 'index'), 'Resource index', 255);
    const activeText = required(r, 'active');
    if (activeText !== 'True' && activeText !== 'False') fail(`Resource ${index} has active="${activeText}"`);
    const alternatives = decimal(required(r, 'alternatives'), `Resource ${index} alternatives`, 64);
    if (alternatives < 1) fail(`Resource ${index} has no alternatives`);
    const size = decimal(required(r, 'size'), `Resource ${index} size`, 1024);
    if (size !== SHA384_BYTES) fail(`Resource ${index} has size ${size}; GPU measurements are SHA-384 (48 bytes)`);
    const values: string[] = [];
    for (let i = 0; i < alternatives; i++) {
      const value = required(r, `Hash${i}`, HASH_NS);
      if (!/^[0-9a-fA-F]+$/.test(value) || value.length !== size * 2) fail(`Resource ${index} Hash${i} is not ${size} bytes of hex`);
      values.push(value.toLowerCase());
    }
    if (out.has(index)) fail(`two Resources have index ${index}`);
    out.set(index, { index, name: attribute(r, 'name') ?? `Measurement_${index}`, active: activeText === 'True', values, size });
  }
  if (out.size === 0) fail('Payload holds no measurements');
  return out;
}

/**
 * Verifies a RIM's signature and chain at `now` against `anchors` and reads its reference values.
 * Never throws: a RIM that cannot be read or verified is a list of reasons.
 */
export function verifyRim(bytes: Uint8Array, anchors: TrustAnchor[], now: Date): RimResult {
  try {
    const root = parseXml(bytes);
    if (root.ns !== SWID_NS || root.local !== 'SoftwareIdentity') fail(`the root element is <${root.qname}>, not a SWID SoftwareIdentity`);
    const signature = readEnvelopedSignature(root);
    const certs = signature.certificates.map(parseCertificate);
    const signer = certs[0]!;
    const reasons: Reason[] = [];
    const chain = verifyChain(signer, certs.slice(1), anchors, now, { leafKeyUsage: { usage: 'digitalSignature', required: true } });
    reasons.push(...chain.reasons.map((r) => reason(r.code, `RIM signer chain: ${r.message}`)));
    // KeyInfo is outside what the signature covers: accept it only when every certificate in it is on the
    // signer's verified path (a stray or altered certificate there is refused, not ignored).
    if (chain.ok) {
      const onPath = new Set([...chain.path.map((c) => c.fingerprint), chain.anchor.cert.fingerprint]);
      const stray = certs.filter((c) => !onPath.has(c.fingerprint));
      if (stray.length > 0) reasons.push(reason('CHAIN_UNTRUSTED', `RIM KeyInfo holds ${stray.length} certificate(s) not on the signer's path to ${chain.anchor.name} (${stray.map((c) => `"${c.subjectCommonName ?? c.subject}"`).join(', ')})`));
    }
    if (!signature.digestMatches) reasons.push(reason('SIGNATURE_INVALID', 'RIM: the document does not match the signed digest (it was changed after signing)'));
    if (!signature.verifyWith(signer.publicKey)) reasons.push(reason('SIGNATURE_INVALID', `RIM: the signature does not verify with the signer certificate "${signer.subjectCommonName ?? signer.subject}"`));
    if (!chain.ok || reasons.length > 0) return { ok: false, reasons: reasons.length ? reasons : [reason('CHAIN_UNTRUSTED', 'RIM signer chain did not verify')] };
    const meta = only(root, 'Meta');
    const payload = only(root, 'Payload');
    const manifest: RimManifest = {
      version: required(meta, 'colloquialVersion'),
      product: required(meta, 'product'),
      tagId: required(root, 'tagId'),
      measurements: readMeasurements(payload),
      signer: signer.subjectCommonName ?? signer.subject,
      root: chain.anchor.name,
      simulated: chain.anchor.simulated,
      path: chain.path,
    };
    return { ok: true, manifest, reasons: [] };
  } catch (err) {
    return { ok: false, reasons: [reasonFromError(err)] };
  }
}
