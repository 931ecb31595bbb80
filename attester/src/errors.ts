// The attester's typed failures. Every way the attester can fail ends as one AttesterError with a stable
// code and a one-line message naming what to fix; the CLI prints exactly that line and maps the code to
// an exit status (0 verified, 1 the host or its evidence failed, 2 the setup is unusable).

export const ATTESTER_ERROR_CODES = [
  /** This kernel offers no configfs TSM report interface (or it is not mounted). */
  'TSM_UNAVAILABLE',
  /** The TSM interface exists but producing a report failed (write refused, empty outblob, endless races). */
  'TSM_FAILED',
  /** libnvidia-ml.so could not be loaded, or lacks the confidential-computing entry points. */
  'NVML_UNAVAILABLE',
  /** NVML is present but a call failed (the message carries nvmlErrorString). */
  'NVML_FAILED',
  /** The GPUs are not in confidential-computing mode: nothing is sent that could pass. */
  'GPU_CC_DISABLED',
  /** A flag, environment variable or file the attester needs is missing or malformed. */
  'CONFIG_INVALID',
  /** The ServiceAccount token file cannot be read. */
  'TOKEN_UNAVAILABLE',
  /** The attestation service could not be reached or answered with a transient failure (5xx, 429). */
  'SERVICE_UNAVAILABLE',
  /** The attestation service refused the request itself (401/403/4xx) or answered something unparseable. */
  'SERVICE_ERROR',
] as const;

export type AttesterErrorCode = (typeof ATTESTER_ERROR_CODES)[number];

export class AttesterError extends Error {
  readonly code: AttesterErrorCode;
  /** Whether trying again later can succeed without anyone changing the setup (used by the retry loop). */
  readonly transient: boolean;
  /** How long the service asked to be left alone (its Retry-After), when it said; retries wait at least this. */
  readonly retryAfterMs: number | undefined;
  constructor(code: AttesterErrorCode, message: string, options: { transient?: boolean; cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AttesterError';
    this.code = code;
    this.transient = options.transient ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The one line the CLI prints: `CODE: message`, newlines flattened so it stays one line. */
  oneLine(): string {
    return `${this.code}: ${this.message.replace(/\s*\n\s*/g, ' ')}`;
  }
}

/** Codes that describe the host's state rather than the attester's setup: `--once` exits 1 for these. */
const HOST_STATE_CODES: ReadonlySet<AttesterErrorCode> = new Set(['GPU_CC_DISABLED']);

/** CLI exit status for a failure: 1 when the host itself fails the check, 2 for everything unusable. */
export function exitCodeFor(err: AttesterError): 1 | 2 {
  return HOST_STATE_CODES.has(err.code) ? 1 : 2;
}

/** Anything thrown, as an AttesterError (unknown errors keep their message under the given code). */
export function asAttesterError(err: unknown, fallback: AttesterErrorCode): AttesterError {
  if (err instanceof AttesterError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AttesterError(fallback, message, { cause: err });
}
