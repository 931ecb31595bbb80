// Signed RIMs for tests and the simulated TEE: SWID tags in the layout of NVIDIA's (Meta with
// colloquialVersion and product, Payload of Measurement Resources, an enveloped ecdsa-sha384 signature over
// c14n 1.1 with the signer chain in KeyInfo), signed by a certificate under a locally made root. A
// verifier accepts them only when a policy lists that root and sets allowSimulated, and then marks the
// result simulated: they are test reference values, never NVIDIA's.
import { sign } from 'node:crypto';
import { canonicalize, childElements, parseXml } from '../nvidia/xml.js';
import { C14N11, DSIG_NS, ECDSA_SHA384, ENVELOPED, SHA384 } from '../nvidia/xmldsig.js';
import { HASH_NS, SWID_NS } from '../nvidia/rim.js';
import { sha384 } from '../bytes.js';
import type { IssuedCertificate } from './test-root.js';

export interface RimEntry {
  /** 0-based (SPDM block index - 1). */
  index: number;
  active: boolean;
  /** Hex SHA-384 values, one per alternative. */
  values: string[];
}

export interface RimToSign {
  version: string;
  product?: string;
  entries: RimEntry[];
  /** The signer first, then its issuers (the root may be included, as NVIDIA's RIMs do). */
  chain: IssuedCertificate[];
}

const base64Of = (der: Uint8Array) => Buffer.from(der).toString('base64');

function documentText(rim: RimToSign, digest: string, signatureValue: string): string {
  const resources = rim.entries
    .map((e) => `        <ns0:Resource type="Measurement" index="${e.index}" active="${e.active ? 'True' : 'False'}" alternatives="${e.values.length}" ${e.values.map((v, i) => `ns2:Hash${i}="${v}"`).join(' ')} name="Measurement_${e.index}" size="48"/>`)
    .join('\n');
  const certs = rim.chain.map((c) => `<ds:X509Certificate>${base64Of(c.der)}</ds:X509Certificate>`).join('');
  return `<SoftwareIdentity xmlns="${SWID_NS}" xmlns:ns0="${SWID_NS}" xmlns:ns2="${HASH_NS}" corpus="false" name="${rim.product ?? 'GH100'}" patch="false" supplemental="false" tagId="simulated-${rim.version}" version="1.0" tagVersion="0">
    <ns0:Entity name="Chrysalis Simulated TEE" role="softwareCreator tagCreator"/>
    <ns0:Meta colloquialVersion="${rim.version}" edition="GPU" product="${rim.product ?? 'GH100'}" revision="r1"/>
    <ns0:Payload>
${resources}
    </ns0:Payload>
<ds:Signature xmlns:ds="${DSIG_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="${C14N11}"/><ds:SignatureMethod Algorithm="${ECDSA_SHA384}"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="${ENVELOPED}"/><ds:Transform Algorithm="${C14N11}"/></ds:Transforms><ds:DigestMethod Algorithm="${SHA384}"/><ds:DigestValue>${digest}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>${signatureValue}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>${certs}</ds:X509Data></ds:KeyInfo></ds:Signature></SoftwareIdentity>
`;
}

function signatureOf(root: ReturnType<typeof parseXml>) {
  return childElements(root).find((e) => e.ns === DSIG_NS && e.local === 'Signature')!;
}

/** The signed RIM as UTF-8 XML text. */
export function signRim(rim: RimToSign): string {
  const placeholder = 'AAAA';
  const draft = parseXml(new Uint8Array(Buffer.from(documentText(rim, placeholder, placeholder))));
  const digest = Buffer.from(sha384(canonicalize(draft, signatureOf(draft)))).toString('base64');
  const withDigest = parseXml(new Uint8Array(Buffer.from(documentText(rim, digest, placeholder))));
  const signedInfo = childElements(signatureOf(withDigest))[0]!;
  const value = sign('sha384', canonicalize(signedInfo), { key: rim.chain[0]!.privateKey, dsaEncoding: 'ieee-p1363' });
  return documentText(rim, digest, value.toString('base64'));
}
