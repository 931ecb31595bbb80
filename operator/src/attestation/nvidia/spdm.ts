// NVIDIA GPU attestation evidence: an SPDM 1.1 GET_MEASUREMENTS request followed by the MEASUREMENTS
// response (DMTF DSP0274 1.1, §10.11 "GET_MEASUREMENTS request and MEASUREMENTS response"). Every length
// is taken from the message itself, so the signature is found structurally: never as "the last 96 bytes"
// (one of the vectors carries a trailing 0x00 after the signature).
import { ByteReader, isAllZero } from '../bytes.js';
import { AttestationError } from '../reasons.js';

export const SPDM_VERSIONS = [0x11, 0x12] as const;
const GET_MEASUREMENTS = 0xe0;
const MEASUREMENTS = 0x60;
/** version, code, param1, param2, nonce[32], slot id. */
export const REQUEST_LENGTH = 37;
export const NONCE_LENGTH = 32;
/** ECDSA P-384: raw r ‖ s, big-endian (DSP0274 "signature" with TPM_ALG_ECDSA_ECC_NIST_P384). */
export const SIGNATURE_LENGTH = 96;

export interface MeasurementBlock {
  index: number;
  /** DMTF measurement value type (0x01 = immutable ROM digest, …). */
  valueType: number;
  value: Uint8Array;
}

export interface SpdmEvidence {
  version: number;
  /** The verifier-chosen request nonce: freshness. */
  requestNonce: Uint8Array;
  slotId: number;
  responderNonce: Uint8Array;
  blocks: MeasurementBlock[];
  opaque: Uint8Array;
  /** request ‖ response up to the signature: what the device signed. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
}

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `SPDM evidence: ${message}`);
}

export function parseSpdmEvidence(bytes: Uint8Array): SpdmEvidence {
  const r = new ByteReader(bytes, 'SPDM evidence');
  const version = r.u8(0);
  if (!(SPDM_VERSIONS as readonly number[]).includes(version)) fail(`request SPDM version 0x${version.toString(16)} is not supported`);
  if (r.u8(1) !== GET_MEASUREMENTS) fail('first message is not GET_MEASUREMENTS');
  if ((r.u8(2) & 1) !== 1) fail('the request did not ask for a signature (param1 bit 0)');
  const requestNonce = r.slice(4, NONCE_LENGTH);
  const slotId = r.u8(36);

  const base = REQUEST_LENGTH;
  if (r.u8(base) !== version) fail('response SPDM version differs from the request');
  if (r.u8(base + 1) !== MEASUREMENTS) fail('second message is not MEASUREMENTS');
  const blockCount = r.u8(base + 4);
  const recordLength = r.u24(base + 5);
  const recordStart = base + 8;
  r.slice(recordStart, recordLength);

  const blocks: MeasurementBlock[] = [];
  let pos = recordStart;
  const recordEnd = recordStart + recordLength;
  while (pos < recordEnd) {
    const index = r.u8(pos);
    const spec = r.u8(pos + 1);
    const size = r.u16(pos + 2);
    if (pos + 4 + size > recordEnd) fail(`measurement block ${index} runs past the record`);
    if (spec !== 0x01) fail(`measurement block ${index} is not in DMTF format`);
    const valueType = r.u8(pos + 4);
    const valueSize = r.u16(pos + 5);
    if (valueSize + 3 !== size) fail(`measurement block ${index} has inconsistent sizes`);
    blocks.push({ index, valueType, value: r.slice(pos + 7, valueSize) });
    pos += 4 + size;
  }
  if (blocks.length !== blockCount) fail(`response announces ${blockCount} blocks, the record holds ${blocks.length}`);

  const responderNonce = r.slice(recordEnd, NONCE_LENGTH);
  const opaqueLength = r.u16(recordEnd + NONCE_LENGTH);
  const opaque = r.slice(recordEnd + NONCE_LENGTH + 2, opaqueLength);
  const signatureOffset = recordEnd + NONCE_LENGTH + 2 + opaqueLength;
  const signature = r.slice(signatureOffset, SIGNATURE_LENGTH);
  const rest = bytes.subarray(signatureOffset + SIGNATURE_LENGTH);
  // Zero padding after the message is tolerated (it is outside the signature and carries nothing).
  if (!isAllZero(rest)) fail(`${rest.length} non-zero byte(s) after the signature`);
  return { version, requestNonce, slotId, responderNonce, blocks, opaque, signedBytes: bytes.subarray(0, signatureOffset), signature };
}
