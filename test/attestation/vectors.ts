// Shared helpers for the attestation tests: where the third-party evidence vectors live (test/vectors,
// copied into the repository with each family's SOURCE.md) and how to load them. Each family's expected.json is the spec for claims.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCertificates } from '../../operator/src/attestation/evidence-input.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = join(REPO_ROOT, 'test', 'vectors');

export function vectorPath(family: 'sev-snp' | 'tdx' | 'nvidia-h100', file: string): string {
  return join(VECTORS, family, file);
}

export function readVector(family: 'sev-snp' | 'tdx' | 'nvidia-h100', file: string): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(family, file)));
}

export function certsOf(family: 'sev-snp' | 'tdx' | 'nvidia-h100', file: string): Uint8Array[] {
  return decodeCertificates(readVector(family, file));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function expectedJson(family: 'sev-snp' | 'tdx' | 'nvidia-h100'): any {
  return JSON.parse(readFileSync(vectorPath(family, 'expected.json'), 'utf8'));
}

/** Times inside every certificate's (and TDX collateral's) validity; see each SOURCE.md. */
export const SNP_TIME = new Date('2025-06-01T00:00:00Z');
export const TDX_TIME = new Date('2026-03-20T00:00:00Z');
export const GPU_TIME = new Date('2025-06-01T00:00:00Z');
/** The vectors' own "checked on" date, after the VLEK expired and the TDX collateral went stale. */
export const LATE_TIME = new Date('2026-11-22T00:00:00Z');

export function codes(v: { reasons: { code: string }[] }): string[] {
  return v.reasons.map((r) => r.code);
}

export function flipByte(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] = copy[offset]! ^ mask;
  return copy;
}
