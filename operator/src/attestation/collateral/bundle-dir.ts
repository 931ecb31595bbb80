// An offline collateral bundle as the attestation service sees it: a directory of Intel PCS files (TCB
// info and QE identity JSON, the TCB signing chain PEM, CRLs in DER), which `chrysalis collateral import`
// stores in a ConfigMap that the chart mounts. Read again at most every `ttlMs` (a mounted ConfigMap
// changes in place); a directory that is absent is an empty bundle (no import yet), a file that is not
// collateral makes the whole bundle unreadable (the cache logs it and goes on without it).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { collateralFromFiles, type TdxCollateral } from '../tdx/collateral.js';

export function readBundleDir(dir: string): TdxCollateral {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  // A mounted ConfigMap also holds "..data" and timestamped directories: only the keys are files to read.
  const files = names
    .filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isFile())
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
  return collateralFromFiles(files);
}

export function bundleFromDir(dir: string, ttlMs = 30_000): () => TdxCollateral {
  let cached: { at: number; bundle: TdxCollateral } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at >= ttlMs) cached = { at: now, bundle: readBundleDir(dir) };
    return cached.bundle;
  };
}
