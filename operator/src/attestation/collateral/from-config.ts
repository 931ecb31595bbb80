// Builds the attestation service's collateral cache from the operator configuration.
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { CollateralConfig } from './config.js';
import { IntelPcsClient } from './intel-pcs.js';
import { CollateralMetrics } from './metrics.js';
import { TdxCollateralCache } from './tdx-cache.js';

/** `clock` is what the metrics read the cache's state at (default: the system clock). */
export function tdxCollateralCache(config: CollateralConfig, deps: { registry?: Registry; logger?: TdxCollateralCacheLogger; clock?: () => Date } = {}): TdxCollateralCache {
  const pcs = config.intelPcsUrl
    ? new IntelPcsClient({
        baseUrl: config.intelPcsUrl,
        ...(config.intelRootCrlUrl ? { rootCrlUrl: config.intelRootCrlUrl } : {}),
        ...(config.caFile ? { ca: readFileSync(config.caFile, 'utf8') } : {}),
        timeoutMs: config.fetchTimeoutSeconds * 1000,
      })
    : undefined;
  return new TdxCollateralCache({
    ...(pcs ? { pcs } : {}),
    refreshBeforeMs: config.refreshBeforeSeconds * 1000,
    refreshIntervalMs: config.refreshIntervalSeconds * 1000,
    retryAfterMs: config.retryAfterSeconds * 1000,
    ...(deps.registry ? { metrics: new CollateralMetrics(deps.registry) } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
}

type TdxCollateralCacheLogger = { warn(message: string, meta?: Record<string, unknown>): unknown };
