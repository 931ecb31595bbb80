// The firmware digest (FWID) a GPU's leaf certificate carries in its TCG DICE TcbInfo extension
// (2.23.133.5.4.1). The FWID is a SEQUENCE { hashAlgorithm OID, digest OCTET STRING }; it is located by
// structure (SHA-384 OID followed by a 48-byte OCTET STRING), which covers both the DICE "fwids [6]" form
// and the form NVIDIA's GH100 leaves use (version, subject key, FWID).
import { children, decodeOid, DER, readSingle, type DerNode } from '../der.js';
import { AttestationError } from '../reasons.js';
import type { ParsedCertificate } from '../x509.js';

export const OID_TCG_DICE_TCB_INFO = '2.23.133.5.4.1';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';

function collect(node: DerNode, out: Uint8Array[]): void {
  if ((node.tag & 0x20) === 0) return;
  const kids = children(node);
  const [first, second] = kids;
  if (kids.length === 2 && first?.tag === DER.OID && second?.tag === DER.OCTET_STRING && decodeOid(first) === OID_SHA384 && second.content.length === 48) {
    out.push(second.content);
    return;
  }
  for (const kid of kids) collect(kid, out);
}

/** The SHA-384 FWID of a leaf, or undefined when the certificate has no TcbInfo extension. */
export function certificateFwid(cert: ParsedCertificate): Uint8Array | undefined {
  const ext = cert.extensions.get(OID_TCG_DICE_TCB_INFO);
  if (!ext) return undefined;
  const found: Uint8Array[] = [];
  collect(readSingle(ext), found);
  if (found.length !== 1) throw new AttestationError('MALFORMED_EVIDENCE', `TcbInfo extension holds ${found.length} SHA-384 FWIDs, expected 1`);
  return found[0];
}
