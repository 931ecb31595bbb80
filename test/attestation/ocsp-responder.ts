// Test helper: OCSP responses signed under the simulated TEE's root (no NVIDIA-signed response is in
// test/vectors: test/vectors/nvidia-h100/SOURCE.md), shaped as NVIDIA's responder answers (SHA-384 CertID,
// ECDSA P-384, a delegated responder certificate in certs, the request's nonce in responseExtensions), and
// an OCSP responder on 127.0.0.1 that answers POSTed requests from a table the test fills. Test material only.
import { sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { children, decodeOid, DER, readSingle } from '../../operator/src/attestation/der.js';
import { certIdFor, encodeCertId, OID_KP_OCSP_SIGNING, OID_OCSP_BASIC, OID_OCSP_NONCE, type OcspHash } from '../../operator/src/attestation/ocsp.js';
import { derBitString, derExplicit, derInteger, derOctetString, derOid, derSequence, tlv } from '../../operator/src/attestation/simulated/der-encode.js';
import { issue, type IssuedCertificate, type ValidityWindow } from '../../operator/src/attestation/simulated/test-root.js';
import { parseCertificate } from '../../operator/src/attestation/x509.js';

export function generalizedTime(date: Date): Uint8Array {
  return tlv(0x18, Buffer.from(`${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`, 'ascii'));
}

/** A delegated OCSP responder certificate issued by `issuer` (with id-kp-OCSPSigning unless eku: false). */
export function responderFor(issuer: IssuedCertificate, validity: ValidityWindow, options: { eku?: boolean; cn?: string } = {}): IssuedCertificate {
  return issue(issuer, [['CN', options.cn ?? 'Simulated OCSP Responder'], ['O', 'Chrysalis Simulated TEE']], validity, {
    ca: false,
    extensions: options.eku === false ? [] : [{ oid: '2.5.29.37', value: derSequence(derOid(OID_KP_OCSP_SIGNING)) }],
  });
}

export interface ResponseSpec {
  cert: IssuedCertificate;
  issuer: IssuedCertificate;
  /** Who signs: the issuer itself (default) or a delegated responder, included in certs. */
  signer?: IssuedCertificate;
  status?: 'good' | 'revoked' | 'unknown';
  revocationReason?: number;
  thisUpdate: Date;
  /** null: none. */
  nextUpdate: Date | null;
  hash?: OcspHash;
  nonce?: Uint8Array;
  /** Sign other bytes than the response's (a forged signature). */
  corruptSignature?: boolean;
}

export function ocspResponse(spec: ResponseSpec): Uint8Array {
  const signer = spec.signer ?? spec.issuer;
  const id = certIdFor(parseCertificate(spec.cert.der), parseCertificate(spec.issuer.der), spec.hash ?? 'sha384');
  const status = spec.status ?? 'good';
  const certStatus = status === 'good' ? Uint8Array.of(0x80, 0) : status === 'unknown' ? Uint8Array.of(0x82, 0)
    : tlv(0xa1, Buffer.concat([generalizedTime(new Date(spec.thisUpdate.getTime() - 3_600_000)), ...(spec.revocationReason !== undefined ? [derExplicit(0, tlv(DER.ENUMERATED, [spec.revocationReason]))] : [])]));
  const single = derSequence(encodeCertId(id), certStatus, generalizedTime(spec.thisUpdate), ...(spec.nextUpdate ? [derExplicit(0, generalizedTime(spec.nextUpdate))] : []));
  const tbs = derSequence(
    tlv(0xa1, parseCertificate(signer.der).subjectDer),
    generalizedTime(spec.thisUpdate),
    derSequence(single),
    ...(spec.nonce ? [tlv(0xa1, derSequence(derSequence(derOid(OID_OCSP_NONCE), derOctetString(derOctetString(spec.nonce)))))] : []),
  );
  const alg = derSequence(derOid('1.2.840.10045.4.3.3'));
  const signature = sign('sha384', spec.corruptSignature ? Buffer.concat([tbs, Buffer.of(0)]) : tbs, signer.privateKey);
  const basic = derSequence(tbs, alg, derBitString(new Uint8Array(signature)), ...(signer !== spec.issuer ? [derExplicit(0, derSequence(signer.der))] : []));
  return derSequence(tlv(DER.ENUMERATED, [0]), derExplicit(0, derSequence(derOid(OID_OCSP_BASIC), derOctetString(basic))));
}

/** What a request asks: the serial (hex) of its first CertID and its nonce. */
export function readRequest(der: Uint8Array): { hashOid: string; serial: string; nonce?: Uint8Array } {
  const tbs = children(readSingle(der, DER.SEQUENCE))[0]!;
  const [list, ext] = children(tbs);
  const certId = children(children(children(list!)[0]!)[0]!);
  const hashOid = decodeOid(children(certId[0]!)[0]!);
  const serial = Buffer.from(certId[3]!.content).toString('hex').replace(/^0+(?=.)/, '');
  let nonce: Uint8Array | undefined;
  if (ext?.tag === 0xa2) {
    for (const e of children(children(ext)[0]!)) {
      const [oid, value] = children(e);
      if (decodeOid(oid!) === OID_OCSP_NONCE) nonce = readSingle(value!.content, DER.OCTET_STRING).content;
    }
  }
  return { hashOid, serial, ...(nonce ? { nonce } : {}) };
}

export interface OcspResponder {
  url: string;
  /** Answers by serial (hex, no leading zeros): given the request's nonce, the DER to send. */
  answers: Map<string, (nonce: Uint8Array | undefined) => Uint8Array>;
  requests: Array<{ serial: string; hashOid: string; nonce?: Uint8Array; contentType?: string }>;
  close(): Promise<void>;
}

export async function startOcspResponder(): Promise<OcspResponder> {
  const answers: OcspResponder['answers'] = new Map();
  const requests: OcspResponder['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const asked = readRequest(new Uint8Array(Buffer.concat(chunks)));
        requests.push({ ...asked, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}) });
        const answer = req.method === 'POST' ? answers.get(asked.serial) : undefined;
        if (!answer) {
          res.writeHead(404);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/ocsp-response' });
        res.end(Buffer.from(answer(asked.nonce)));
      } catch {
        res.writeHead(400);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    answers,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
