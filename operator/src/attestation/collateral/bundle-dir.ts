// An offline collateral bundle as the attestation service sees it: a directory of Intel PCS files (TCB
// info and QE identity JSON, the TCB signing chain PEM, CRLs in DER), AMD CRLs (DER, signed by an ARK) and
// NVIDIA OCSP responses (DER), which `chrysalis collateral import` stores in a ConfigMap that the chart
// mounts. Read again at most every `ttlMs` (a mounted ConfigMap changes in place); a directory that is
// absent is an empty bundle (no import yet), a file that is not collateral makes the whole bundle
// unreadable (the caches log it and go on without it). Every DER CRL is offered to both the TDX and the
// SEV-SNP caches: each admits only those its own pinned roots' chain validly signed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { children, DER, readSingle } from '../der.js';
import { collateralFromFiles, type TdxCollateral } from '../tdx/collateral.js';

export interface BundleParts {
  tdx: TdxCollateral;
  /** Every DER CRL of the bundle (Intel's and AMD's). */
  crls: Uint8Array[];
  /** DER OCSPResponses. */
  ocsp: Uint8Array[];
}

/** An OCSPResponse is SEQUENCE { responseStatus ENUMERATED, … }; a CRL or certificate starts with a SEQUENCE. */
export function isOcspResponse(bytes: Uint8Array): boolean {
  if (bytes[0] !== 0x30) return false;
  try {
    return children(readSingle(bytes, DER.SEQUENCE))[0]?.tag === DER.ENUMERATED;
  } catch {
    return false;
  }
}

export function splitBundleFiles(files: { name: string; bytes: Uint8Array }[]): BundleParts {
  const ocsp = files.filter((f) => isOcspResponse(f.bytes)).map((f) => f.bytes);
  const tdx = collateralFromFiles(files.filter((f) => !isOcspResponse(f.bytes)));
  return { tdx, crls: [...(tdx.crls ?? [])], ocsp };
}

export function readBundleParts(dir: string): BundleParts {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { tdx: {}, crls: [], ocsp: [] };
    throw err;
  }
  // A mounted ConfigMap also holds "..data" and timestamped directories: only the keys are files to read.
  const files = names
    .filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isFile())
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
  return splitBundleFiles(files);
}

export function readBundleDir(dir: string): TdxCollateral {
  return readBundleParts(dir).tdx;
}

/** One reader of the directory, shared by the caches (each reads its part). */
export function bundlePartsFromDir(dir: string, ttlMs = 30_000): () => BundleParts {
  let cached: { at: number; parts: BundleParts } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at >= ttlMs) cached = { at: now, parts: readBundleParts(dir) };
    return cached.parts;
  };
}

export function bundleFromDir(dir: string, ttlMs = 30_000): () => TdxCollateral {
  const parts = bundlePartsFromDir(dir, ttlMs);
  return () => parts().tdx;
}
