// The `collateral` section of the operator's configuration: where the attestation service fetches TDX
// collateral (an Intel PCS or a PCCS speaking its v4 API) and AMD VCEKs (AMD's KDS or a cache of it), and
// when it refreshes them. Without intelPcsUrl nothing is fetched for TDX, and TDX evidence fails
// COLLATERAL_MISSING under any policy that requires collateral; without amdKdsUrl an SEV-SNP report sent
// without its VCEK fails COLLATERAL_MISSING. With amdKdsUrl every sev-snp report also needs its ARK's
// current CRL from there (COLLATERAL_MISSING / COLLATERAL_INVALID otherwise) unless amdCrlRequired is false;
// without it, once the offline bundle carries AMD CRLs, from the bundle. With nvidiaOcspUrl (or OCSP
// responses in the offline bundle) every GPU report's NVIDIA certificates need a current "good" OCSP
// status unless nvidiaOcspRequired is false.

export interface CollateralConfig {
  /** Base URL of an Intel PCS or PCCS (v4 API), e.g. https://pccs.kube-system.svc:8081. */
  intelPcsUrl?: string;
  /** Base URL of AMD's KDS or a KDS-compatible cache, e.g. https://kdsintf.amd.com: VCEKs for reports sent without one. */
  amdKdsUrl?: string;
  /**
   * With amdKdsUrl: judge every sev-snp report's ASK by the CRL its ARK signs, fetched from there
   * (default true). false only where that endpoint serves VCEKs but no CRLs: revoked ASKs then pass.
   */
  amdCrlRequired: boolean;
  /** NVIDIA's OCSP service or a mirror, e.g. https://ocsp.ndis.nvidia.com: certificate status of GPU chains. */
  nvidiaOcspUrl?: string;
  /**
   * With nvidiaOcspUrl or bundle responses: require a current good OCSP status for every NVIDIA-issued
   * certificate of a GPU report (default true). false: certificate status is not checked, revoked GPUs pass.
   */
  nvidiaOcspRequired: boolean;
  /** The Intel SGX Root CA CRL's URL when the endpoint does not serve /sgx/certification/v4/rootcacrl (Intel's PCS). */
  intelRootCrlUrl?: string;
  /** Directory of an offline bundle (`chrysalis collateral import`; the chart mounts its ConfigMap here). */
  bundleDir?: string;
  /** PEM file of the CA that signed an https:// PCCS's (or KDS cache's) certificate (a PCCS usually has its own). */
  caFile?: string;
  /** Refetch an item this many seconds before its nextUpdate. */
  refreshBeforeSeconds: number;
  /** Refetch an item fetched longer ago than this, so new revocations arrive before a CRL's nextUpdate. */
  refreshIntervalSeconds: number;
  /** After a failed fetch of one item, wait this long before trying it again. */
  retryAfterSeconds: number;
  fetchTimeoutSeconds: number;
}

export const DEFAULT_COLLATERAL_CONFIG: CollateralConfig = {
  amdCrlRequired: true,
  nvidiaOcspRequired: true,
  refreshBeforeSeconds: 86_400,
  refreshIntervalSeconds: 21_600,
  retryAfterSeconds: 60,
  fetchTimeoutSeconds: 10,
};

const LIMITS: Record<'refreshBeforeSeconds' | 'refreshIntervalSeconds' | 'retryAfterSeconds' | 'fetchTimeoutSeconds', [number, number]> = {
  refreshBeforeSeconds: [0, 30 * 86_400],
  refreshIntervalSeconds: [60, 30 * 86_400],
  retryAfterSeconds: [1, 86_400],
  fetchTimeoutSeconds: [1, 300],
};

function url(value: unknown, field: string): string {
  let parsed: URL | undefined;
  try {
    parsed = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    parsed = undefined;
  }
  // Checked first, so that a credential in the URL is never repeated in an error message.
  if (parsed && (parsed.username || parsed.password)) throw new Error(`${field} must not carry credentials`);
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new Error(`${field} must be an http(s) URL, e.g. https://pccs.example:8081 (got ${JSON.stringify(value)})`);
  }
  return value as string;
}

/** Throws an Error naming the field and the fix; `source` prefixes every message. */
export function parseCollateralConfig(value: unknown, source: string): CollateralConfig {
  const field = `${source}: collateral`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${field} must be a mapping (intelPcsUrl, intelRootCrlUrl, caFile, refreshBeforeSeconds, …)`);
  const out: CollateralConfig = { ...DEFAULT_COLLATERAL_CONFIG };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    switch (key) {
      case 'intelPcsUrl':
      case 'intelRootCrlUrl':
      case 'amdKdsUrl':
      case 'nvidiaOcspUrl':
        out[key] = url(v, `${field}.${key}`);
        break;
      case 'amdCrlRequired':
        if (typeof v !== 'boolean') throw new Error(`${field}.amdCrlRequired must be true or false`);
        out.amdCrlRequired = v;
        break;
      case 'nvidiaOcspRequired':
        if (typeof v !== 'boolean') throw new Error(`${field}.nvidiaOcspRequired must be true or false`);
        out.nvidiaOcspRequired = v;
        break;
      case 'caFile':
      case 'bundleDir':
        if (typeof v !== 'string' || v === '') throw new Error(`${field}.${key} must be a path`);
        out[key] = v;
        break;
      case 'refreshBeforeSeconds':
      case 'refreshIntervalSeconds':
      case 'retryAfterSeconds':
      case 'fetchTimeoutSeconds': {
        const [min, max] = LIMITS[key];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`${field}.${key} must be an integer between ${min} and ${max}`);
        out[key] = v;
        break;
      }
      default:
        throw new Error(`${field}: unknown key "${key}" (known: intelPcsUrl, intelRootCrlUrl, amdKdsUrl, amdCrlRequired, nvidiaOcspUrl, nvidiaOcspRequired, bundleDir, caFile, ${Object.keys(LIMITS).join(', ')})`);
    }
  }
  if (out.intelRootCrlUrl && !out.intelPcsUrl) throw new Error(`${field}.intelRootCrlUrl needs intelPcsUrl (the endpoint of the other items)`);
  return out;
}
