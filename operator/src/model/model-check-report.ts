// What the model check (the replica's init container, attester/src/model/model-check.ts) reports, and
// how: one line of JSON in its termination message, which the kubelet copies into the Pod's
// status.initContainerStatuses[].state.terminated.message (at most 4096 bytes) and the InferencePool
// controller reads back. The line also carries a sentence for people (`kubectl describe pod`).
//
//   verified  the computed hash equals spec.model.hash: exit 0, the server starts;
//   mismatch  it does not: exit 1, with both hashes;
//   failed    no hash could be computed (source unreachable, archive or tree invalid, bad flags): exit 2.
//
// The reader treats anything it cannot parse from a failed check as `failed`: an unreadable report never
// passes for a verified model.

export type ModelCheckFailure = 'SourceUnavailable' | 'ArchiveInvalid' | 'TreeInvalid' | 'ConfigInvalid';

export type ModelCheckReport =
  | { result: 'verified'; hash: string; root: string; files: number; bytes: number; message: string }
  | { result: 'mismatch'; expected: string; computed: string; root: string; files: number; bytes: number; message: string }
  | { result: 'failed'; reason: ModelCheckFailure; message: string };

export const MODEL_CHECK_EXIT = { verified: 0, mismatch: 1, failed: 2 } as const;

/** The kubelet keeps at most this many bytes of a termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

const HEX64 = /^[0-9a-f]{64}$/;
const FAILURES: readonly ModelCheckFailure[] = ['SourceUnavailable', 'ArchiveInvalid', 'TreeInvalid', 'ConfigInvalid'];

export function mismatchMessage(expected: string, computed: string): string {
  return `model hash mismatch: spec.model.hash is ${expected} but the model's files hash to ${computed}`;
}

/** One JSON line, cut to fit a termination message (only a failure's free-text message is ever long). */
export function formatModelCheckReport(report: ModelCheckReport): string {
  let line = JSON.stringify(report);
  if (Buffer.byteLength(line, 'utf8') <= TERMINATION_MESSAGE_LIMIT) return line;
  let message = report.message;
  while (Buffer.byteLength(line, 'utf8') > TERMINATION_MESSAGE_LIMIT && message.length > 0) {
    message = message.slice(0, Math.floor(message.length * 0.9));
    line = JSON.stringify({ ...report, message: `${message}…` });
  }
  return line;
}

/** The report in a termination message, or undefined when the text is not one. */
export function parseModelCheckReport(text: string | undefined): ModelCheckReport | undefined {
  if (!text) return undefined;
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text.trim());
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    raw = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const message = typeof raw.message === 'string' ? raw.message : '';
  const count = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  const hex = (v: unknown) => (typeof v === 'string' && HEX64.test(v) ? v : undefined);
  if (raw.result === 'verified') {
    const hash = hex(raw.hash), root = hex(raw.root), files = count(raw.files), bytes = count(raw.bytes);
    if (!hash || !root || files === undefined || bytes === undefined) return undefined;
    return { result: 'verified', hash, root, files, bytes, message };
  }
  if (raw.result === 'mismatch') {
    const expected = hex(raw.expected), computed = hex(raw.computed), root = hex(raw.root), files = count(raw.files), bytes = count(raw.bytes);
    if (!expected || !computed || !root || files === undefined || bytes === undefined) return undefined;
    return { result: 'mismatch', expected, computed, root, files, bytes, message };
  }
  if (raw.result === 'failed' && FAILURES.includes(raw.reason as ModelCheckFailure)) {
    return { result: 'failed', reason: raw.reason as ModelCheckFailure, message };
  }
  return undefined;
}
