// The attester's identity: an Ed25519 key pair made in memory when the attester starts. The CPU report
// binds its public key (report_data = SHA-512(nonce ‖ publicKey)), so once the service has verified the
// report, anything signed by this key (usage reports, the replica's RA-TLS certificate and handshakes)
// provably comes from inside that TEE. The private key lives only in this process: it is never written to
// disk, sent or logged (the TLS stack gets it as in-memory PEM), and a restart makes a new key (and so
// needs a new attestation).
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { AttesterError } from './errors.js';

/** Bytes of a raw Ed25519 public key, and of the challenge nonce the protocol uses. */
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const NONCE_BYTES = 32;

export class AttesterIdentity {
  readonly #privateKey: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;

  private constructor(privateKey: KeyObject, publicKey: Uint8Array) {
    this.#privateKey = privateKey;
    this.publicKey = publicKey;
  }

  static generate(): AttesterIdentity {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    // The raw key is the JWK "x" member (RFC 8037); SPKI would wrap it in a 12-byte DER header.
    const x = publicKey.export({ format: 'jwk' }).x;
    if (typeof x !== 'string') throw new Error('Ed25519 public key export has no "x" member');
    const raw = new Uint8Array(Buffer.from(x, 'base64url'));
    if (raw.length !== ED25519_PUBLIC_KEY_BYTES) throw new Error(`Ed25519 public key is ${raw.length} bytes`);
    return new AttesterIdentity(privateKey, raw);
  }

  get publicKeyHex(): string {
    return Buffer.from(this.publicKey).toString('hex');
  }

  /** Ed25519 signature (64 bytes) over `message`. */
  sign(message: Uint8Array | string): Uint8Array {
    const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    return new Uint8Array(sign(null, data, this.#privateKey));
  }

  /**
   * The private key as PKCS#8 PEM, for the replica's RA-TLS endpoint only (attester/src/gateway/): node:tls
   * takes a key as PEM or DER bytes, never as a KeyObject. The text stays in this process's memory like
   * the KeyObject; it is never written, logged or sent.
   */
  tlsPrivateKeyPem(): string {
    return this.#privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /** Keeps the private key out of JSON.stringify, util.inspect and therefore out of every log line. */
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKeyHex };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `AttesterIdentity(${this.publicKeyHex})`;
  }
}

/** Decodes the service's challenge nonce: exactly 32 bytes of hex. */
export function parseNonce(hex: string, where = 'nonce'): Uint8Array {
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== NONCE_BYTES * 2) {
    throw new AttesterError('CONFIG_INVALID', `${where} must be ${NONCE_BYTES} bytes of hex (${NONCE_BYTES * 2} digits), got "${hex.slice(0, 80)}"`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** report_data = SHA-512(nonce ‖ publicKey): 64 bytes, exactly the size of SNP REPORT_DATA and TDX REPORTDATA. */
export function reportDataFor(nonce: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(nonce).update(publicKey).digest());
}
