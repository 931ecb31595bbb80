// The XML subset NVIDIA's RIMs are read with: Canonical XML 1.1 as the W3C examples give it for what the
// subset accepts, and a refusal (MALFORMED_EVIDENCE) for everything outside it and for any XML-signature
// shape other than the one NVIDIA signs (so nothing is canonicalized or referenced differently than by
// the signer, and no second signature or other algorithm can be slipped in).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { AttestationError } from '../../operator/src/attestation/reasons.js';
import { verifyRim } from '../../operator/src/attestation/nvidia/rim.js';
import { nvidiaRimAnchor } from '../../operator/src/attestation/nvidia/rim-root.js';
import { canonicalize, childElements, parseXml } from '../../operator/src/attestation/nvidia/xml.js';
import { codes, GPU_TIME, vectorPath } from './vectors.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const c14n = (s: string) => Buffer.from(canonicalize(parseXml(bytes(s)))).toString('utf8');

test('start and end tags, attribute order and namespace declarations follow the W3C c14n example (§3.3)', (t) => {
  const input = `<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>`;
  const expected = `<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>`;
  t.is(c14n(input), expected);
});

test('character references and special characters are written as c14n requires, line ends read as LF', (t) => {
  // Attribute values: &, <, ", tab, LF, CR escaped ('>' is not; a literal tab was normalized to a space).
  // Text: &, <, >, CR escaped.
  t.is(c14n('<doc attr="&lt;&quot;&#x9;&#xA;&#xD;&apos;\t>">a&amp;b&gt;&#xD;&#65;\r\nc</doc>'), '<doc attr="&lt;&quot;&#x9;&#xA;&#xD;\' >">a&amp;b&gt;&#xD;A\nc</doc>');
  t.is(c14n('<?xml version="1.0" encoding="UTF-8"?>\n<doc/>\n'), '<doc></doc>');
});

test('an element canonicalized as a subset apex carries every namespace in scope', (t) => {
  const root = parseXml(bytes('<r xmlns="urn:u" xmlns:p="urn:v" xmlns:q="urn:w"><p:c x="1"><q:d/></p:c></r>'));
  t.is(Buffer.from(canonicalize(childElements(root)[0]!)).toString('utf8'), '<p:c xmlns="urn:u" xmlns:p="urn:v" xmlns:q="urn:w" x="1"><q:d></q:d></p:c>');
});

test('XML outside the subset is refused, never read differently', (t) => {
  for (const input of [
    '<!DOCTYPE d><d/>', '<d><!-- c --></d>', '<d><![CDATA[x]]></d>', '<d><?pi x?></d>', '<d xml:lang="en"/>',
    '<p:d/>', '<d a="1" a="2"/>', '<d xmlns:p="urn:x" xmlns:q="urn:x" p:a="1" q:a="2"/>', '<d>&ent;</d>', '<d>&#0;</d>',
    '<d/><e/>', 'x<d/>', '<d><e></d></e>', '<d>', '<d a=1/>', '<d a="<"/>', '<d>\u000b</d>', '<d/>\u000b', '<d\u00a0a="1"/>',
  ]) {
    const err = t.throws(() => parseXml(bytes(input)), { instanceOf: AttestationError }, input);
    t.is(err?.code, 'MALFORMED_EVIDENCE', input);
  }
  t.throws(() => parseXml(Uint8Array.of(0x3c, 0x64, 0xff, 0x2f, 0x3e)), { instanceOf: AttestationError }, 'invalid UTF-8');
});

const realRim = readFileSync(vectorPath('nvidia-h100', 'nvtrust/1010_0200_882_960074001A_PROD.swidtag'), 'utf8');
const verifyText = (s: string) => verifyRim(bytes(s), [nvidiaRimAnchor()], GPU_TIME);

test('a RIM signature in any other shape than NVIDIA\'s is refused (algorithm, reference, a second signature, a moved signature)', (t) => {
  t.true(verifyText(realRim).ok);
  const signature = realRim.slice(realRim.indexOf('<ds:Signature'), realRim.indexOf('</SoftwareIdentity>'));
  const variants = {
    'another signature algorithm': realRim.replace('xmldsig-more#ecdsa-sha384', 'xmldsig-more#rsa-sha256'),
    'exclusive c14n': realRim.replace('<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"'),
    'a reference to an element': realRim.replace('<ds:Reference URI=""', '<ds:Reference URI="#x"'),
    'a second signature inside the payload': realRim.replace('<ns0:Payload', `<ns0:Payload>${signature}</ns0:Payload><ns0:Payload`),
    'the signature moved into the payload': realRim.replace(signature, '').replace('</ns0:Payload>', `${signature}</ns0:Payload>`),
  };
  for (const [what, changed] of Object.entries(variants)) {
    t.not(changed, realRim, what);
    t.deepEqual(codes(verifyText(changed)), ['MALFORMED_EVIDENCE'], what);
  }
});

test('a RIM whose KeyInfo carries a certificate off the signer\'s path is refused (KeyInfo is not signed)', (t) => {
  // Append an altered copy (one serial byte changed) of the GH100 CA certificate after NVIDIA's root.
  const certs = [...realRim.matchAll(/<ds:X509Certificate>([\s\S]*?)<\/ds:X509Certificate>/g)].map((m) => m[0]);
  t.is(certs.length, 4);
  const stray = realRim.replace(certs[3]!, `${certs[3]!}${certs[2]!.replace('MIICtjCCAj2gAwIBAgIRAMbb', 'MIICtjCCAj2gAwIBAgIRAMbc')}`);
  t.deepEqual(codes(verifyText(stray)), ['CHAIN_UNTRUSTED']);
});
