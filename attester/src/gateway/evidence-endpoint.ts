// The client-nonce challenge of the RA-TLS endpoint:
//
//   GET /.well-known/chrysalis/evidence?nonce=<64 hex digits>
//   200 application/json: the evidence bundle {"nonce","publicKey","cpu","gpus"} (the format the
//       attestation service verifies), made now, with report_data = SHA-512(nonce ‖ publicKey) and each
//       GPU's SPDM nonce SHA-256("chrysalis-gpu" ‖ nonce ‖ publicKey), publicKey the certificate's key
//   400 a nonce that is not 32 bytes of hex; 429 too many evidence requests at once (Retry-After)
//
// Why it exists beside the evidence in the certificate: the certificate's nonce is derived from its own
// notBefore (ra-tls-certificate.ts), which proves the evidence is no older than that, but the replica
// chose the time. A nonce the client draws itself and the replica answers over the same TLS connection
// (whose peer proved it holds the key the evidence binds) shows the TEE holding that key is alive now,
// so evidence made earlier and a key taken out of a TEE since cannot answer for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EvidenceBundle } from '../../../operator/src/attestation/bundle.js';

export const EVIDENCE_PATH = '/.well-known/chrysalis/evidence';
/** Everything under this prefix is the gateway's own and never reaches the inference server. */
export const WELL_KNOWN_PREFIX = '/.well-known/chrysalis/';
/**
 * Evidence requests served at once: each one asks the TEE (configfs-tsm) and every GPU (SPDM) for a
 * report, which take real time on hardware; more callers wait for a 429's Retry-After, not in a queue.
 */
export const MAX_CONCURRENT_EVIDENCE = 4;

export type EvidenceMaker = (nonce: Uint8Array) => Promise<EvidenceBundle>;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Serves the gateway's own paths; `inFlight` counts evidence requests in progress across connections. */
export function evidenceHandler(makeEvidence: EvidenceMaker, log: { warn(message: string, meta?: object): void }) {
  let inFlight = 0;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://replica');
    if (url.pathname !== EVIDENCE_PATH) return sendJson(res, 404, { error: `no such path under ${WELL_KNOWN_PREFIX}; the evidence is at ${EVIDENCE_PATH}?nonce=<64 hex digits>` });
    if (req.method !== 'GET') return sendJson(res, 405, { error: `${EVIDENCE_PATH} answers GET only` }, { allow: 'GET' });
    const nonces = url.searchParams.getAll('nonce');
    if (nonces.length !== 1 || !/^[0-9a-fA-F]{64}$/.test(nonces[0]!)) {
      return sendJson(res, 400, { error: 'query parameter nonce must be given once, as 32 bytes of hex (64 digits) the client drew at random' });
    }
    if (inFlight >= MAX_CONCURRENT_EVIDENCE) return sendJson(res, 429, { error: 'too many evidence requests at once; retry' }, { 'retry-after': '1' });
    inFlight++;
    try {
      const bundle = await makeEvidence(new Uint8Array(Buffer.from(nonces[0]!, 'hex')));
      sendJson(res, 200, { nonce: bundle.nonce, publicKey: bundle.publicKey, cpu: bundle.cpu, gpus: bundle.gpus });
    } catch (err) {
      log.warn('evidence for a client nonce could not be made', { error: err instanceof Error ? err.message : String(err) });
      sendJson(res, 503, { error: 'the TEE did not produce evidence; retry later' });
    } finally {
      inFlight--;
    }
  };
}
