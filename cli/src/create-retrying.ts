// Creating an object on a control plane that has only just started. For a while such an apiserver
// answers 429 (a CRD's storage still initializing), 5xx, or drops the connection; a tool that sets
// things up right after starting it (the demo) retries those instead of failing its whole run.
import { KubeApiError, type RestClient } from '../../operator/src/kube/rest.js';

export interface RetryOptions {
  /** Stop retrying after this long and throw the last error (default 60 s). */
  giveUpAfterMs?: number;
  /** Pause between tries (default 1 s). */
  delayMs?: number;
}

/**
 * POSTs `body` to `path`. 429, 5xx and connection errors are retried until `giveUpAfterMs`; an
 * AlreadyExists answer counts as created (an earlier try may have landed before its answer was lost);
 * any other answer (a 4xx that says the object is wrong) is thrown at once.
 */
export async function createRetryingTransient(rest: RestClient, path: string, body: Record<string, unknown>, options: RetryOptions = {}): Promise<void> {
  const { giveUpAfterMs = 60_000, delayMs = 1000 } = options;
  const giveUpAt = Date.now() + giveUpAfterMs;
  for (;;) {
    try {
      await rest.request('POST', path, { body });
      return;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists') return;
      if (!isTransient(err) || Date.now() >= giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.code === 429 || err.code >= 500;
  // Node's socket errors: ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, …
  return /^E[A-Z]+$/.test(String((err as NodeJS.ErrnoException | undefined)?.code ?? ''));
}
