// The enveloped XML signature (W3C XML Signature 1.1) on an NVIDIA RIM, in the one shape NVIDIA signs:
//   Signature (a child of the root, the only one in the document)
//     SignedInfo: CanonicalizationMethod c14n 1.1, SignatureMethod ecdsa-sha384,
//                 one Reference URI="" with Transforms [enveloped-signature, c14n 1.1], DigestMethod sha384
//     SignatureValue: raw r ‖ s (RFC 4050 / RFC 6931), base64
//     KeyInfo/X509Data: the signer's certificate first, then its chain
// Any other algorithm, reference, transform or element is refused (MALFORMED_EVIDENCE): accepting
// alternatives only widens what an attacker may choose. The digest covers the whole document except the
// Signature, so whatever the caller then reads from that document (outside the Signature) is signed.
import { verify as verifySignature, createHash } from 'node:crypto';
import { bytesEqual } from '../bytes.js';
import { AttestationError } from '../reasons.js';
import { canonicalize, childElements, attribute, textOf, type XmlElement } from './xml.js';

export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const C14N11 = 'http://www.w3.org/2006/12/xml-c14n11';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const ECDSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384';
export const SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#sha384';

export interface EnvelopedSignature {
  /** DER certificates from KeyInfo/X509Data, in document order (the signer first). */
  certificates: Uint8Array[];
  /** The signature element (excluded from the digest). */
  element: XmlElement;
  digestMatches: boolean;
  /** Verifies SignatureValue over canonical SignedInfo with a public key (the signer certificate's). */
  verifyWith(publicKey: Parameters<typeof verifySignature>[2]): boolean;
}

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `RIM signature: ${message}`);
}

function dsChildren(element: XmlElement, expected: string[]): XmlElement[] {
  for (const c of element.children) if (c.kind === 'text' && c.value.trim() !== '') fail(`<${element.qname}> holds text`);
  const kids = childElements(element);
  const names = kids.map((k) => (k.ns === DSIG_NS ? k.local : `{${k.ns}}${k.local}`));
  if (names.join(',') !== expected.join(',')) fail(`<${element.qname}> holds [${names.join(', ')}], expected [${expected.join(', ')}]`);
  return kids;
}

function onlyAttributes(element: XmlElement, allowed: string[]): void {
  for (const a of element.attributes) if (a.ns !== '' || !allowed.includes(a.local)) fail(`<${element.qname}> has unexpected attribute ${a.qname}`);
}

function algorithm(element: XmlElement, expected: string): void {
  onlyAttributes(element, ['Algorithm']);
  dsChildren(element, []);
  const value = attribute(element, 'Algorithm');
  if (value !== expected) fail(`<${element.qname}> Algorithm is "${value ?? '(none)'}"; only ${expected} is accepted`);
}

function base64Text(element: XmlElement): Uint8Array {
  const text = textOf(element).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text.length === 0) fail(`<${element.qname}> is not base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function findSignatures(element: XmlElement, out: XmlElement[]): void {
  for (const kid of childElements(element)) {
    if (kid.ns === DSIG_NS && kid.local === 'Signature') out.push(kid);
    findSignatures(kid, out);
  }
}

/** Reads and checks the shape of the root's enveloped signature, and compares the reference digest. */
export function readEnvelopedSignature(root: XmlElement): EnvelopedSignature {
  const signatures: XmlElement[] = [];
  findSignatures(root, signatures);
  if (signatures.length !== 1) fail(`the document holds ${signatures.length} ds:Signature elements; exactly one is accepted`);
  const signature = signatures[0]!;
  if (signature.parent !== root) fail('ds:Signature is not a child of the root element (not an enveloped signature of the whole document)');
  onlyAttributes(signature, []);
  const [signedInfo, signatureValue, keyInfo] = dsChildren(signature, ['SignedInfo', 'SignatureValue', 'KeyInfo']) as [XmlElement, XmlElement, XmlElement];
  onlyAttributes(signedInfo, []);
  const [c14n, method, reference] = dsChildren(signedInfo, ['CanonicalizationMethod', 'SignatureMethod', 'Reference']) as [XmlElement, XmlElement, XmlElement];
  algorithm(c14n, C14N11);
  algorithm(method, ECDSA_SHA384);
  onlyAttributes(reference, ['URI']);
  if (attribute(reference, 'URI') !== '') fail('the Reference must be URI="" (the whole document)');
  const [transforms, digestMethod, digestValue] = dsChildren(reference, ['Transforms', 'DigestMethod', 'DigestValue']) as [XmlElement, XmlElement, XmlElement];
  onlyAttributes(transforms, []);
  const [t1, t2] = dsChildren(transforms, ['Transform', 'Transform']) as [XmlElement, XmlElement];
  algorithm(t1, ENVELOPED);
  algorithm(t2, C14N11);
  algorithm(digestMethod, SHA384);
  onlyAttributes(digestValue, []);
  const digest = base64Text(digestValue);
  onlyAttributes(signatureValue, []);
  const value = base64Text(signatureValue);
  if (value.length !== 96) fail(`SignatureValue is ${value.length} bytes; ECDSA P-384 r ‖ s is 96`);
  onlyAttributes(keyInfo, []);
  const [x509Data] = dsChildren(keyInfo, ['X509Data']) as [XmlElement];
  onlyAttributes(x509Data, []);
  const certElements = childElements(x509Data);
  if (certElements.length === 0) fail('X509Data holds no certificate');
  dsChildren(x509Data, certElements.map(() => 'X509Certificate'));
  const certificates = certElements.map((c) => {
    onlyAttributes(c, []);
    return base64Text(c);
  });

  const computed = new Uint8Array(createHash('sha384').update(canonicalize(root, signature)).digest());
  const canonicalSignedInfo = canonicalize(signedInfo);
  return {
    certificates,
    element: signature,
    digestMatches: bytesEqual(computed, digest),
    verifyWith: (publicKey) => verifySignature('sha384', canonicalSignedInfo, { key: publicKey as never, dsaEncoding: 'ieee-p1363' }, value),
  };
}
