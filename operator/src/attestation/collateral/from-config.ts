// Builds the attestation service's collateral sources from the operator configuration.
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { AmdKdsClient } from './amd-kds.js';
import { bundlePartsFromDir } from './bundle-dir.js';
import type { CollateralConfig } from './config.js';
import { IntelPcsClient } from './intel-pcs.js';
import { CollateralMetrics } from './metrics.js';
import { NvidiaOcspClient } from './nvidia-ocsp.js';
import { OcspCache } from './ocsp-cache.js';
import { SnpVcekCache } from './snp-cache.js';
import type { CollateralEntryStatus } from './status.js';
import { TdxCollateralCache } from './tdx-cache.js';

type Logger = { warn(message: string, meta?: Record<string, unknown>): unknown };

export interface CollateralSources {
  tdx: TdxCollateralCache;
  snp: SnpVcekCache;
  /** NVIDIA certificate status (OCSP) of GPU device chains. */
  nvidia: OcspCache;
  /** Every item the caches hold or have needed. */
  status(now: Date): CollateralEntryStatus[];
}

/** `clock` is what the metrics read the caches' state at (default: the system clock). */
export function collateralSources(config: CollateralConfig, deps: { registry?: Registry; logger?: Logger; clock?: () => Date } = {}): CollateralSources {
  const ca = config.caFile ? readFileSync(config.caFile, 'utf8') : undefined;
  const timeoutMs = config.fetchTimeoutSeconds * 1000;
  const metrics = deps.registry ? new CollateralMetrics(deps.registry) : undefined;
  const bundle = config.bundleDir ? bundlePartsFromDir(config.bundleDir) : undefined;
  const common = { ...(metrics ? { metrics } : {}), ...(deps.logger ? { logger: deps.logger } : {}), ...(deps.clock ? { clock: deps.clock } : {}) };
  const tdx = new TdxCollateralCache({
    ...(config.intelPcsUrl
      ? { pcs: new IntelPcsClient({ baseUrl: config.intelPcsUrl, ...(config.intelRootCrlUrl ? { rootCrlUrl: config.intelRootCrlUrl } : {}), ...(ca ? { ca } : {}), timeoutMs }) }
      : {}),
    refreshBeforeMs: config.refreshBeforeSeconds * 1000,
    refreshIntervalMs: config.refreshIntervalSeconds * 1000,
    retryAfterMs: config.retryAfterSeconds * 1000,
    ...(bundle ? { bundle: () => bundle().tdx } : {}),
    ...common,
  });
  const snp = new SnpVcekCache({
    ...(config.amdKdsUrl ? { kds: new AmdKdsClient({ baseUrl: config.amdKdsUrl, ...(ca ? { ca } : {}), timeoutMs }) } : {}),
    retryAfterMs: config.retryAfterSeconds * 1000,
    crlRequired: config.amdCrlRequired,
    refreshBeforeMs: config.refreshBeforeSeconds * 1000,
    refreshIntervalMs: config.refreshIntervalSeconds * 1000,
    ...(bundle ? { bundleCrls: () => bundle().crls } : {}),
    ...common,
  });
  const nvidia = new OcspCache({
    ...(config.nvidiaOcspUrl ? { client: new NvidiaOcspClient({ url: config.nvidiaOcspUrl, ...(ca ? { ca } : {}), timeoutMs }) } : {}),
    ...(bundle ? { bundle: () => bundle().ocsp } : {}),
    required: config.nvidiaOcspRequired,
    retryAfterMs: config.retryAfterSeconds * 1000,
    refreshBeforeMs: config.refreshBeforeSeconds * 1000,
    refreshIntervalMs: config.refreshIntervalSeconds * 1000,
    ...common,
  });
  return { tdx, snp, nvidia, status: (now) => [...tdx.status(now), ...snp.status(now), ...nvidia.status(now)] };
}
