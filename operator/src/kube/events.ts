// Kubernetes Events (events.k8s.io/v1) about the operator's objects, so `kubectl describe` tells the
// story. Events are de-duplicated: the same (object, type, reason, message) is emitted at most once per
// `windowMs`. Level-triggered reconcilers re-derive the same facts on every pass; without this, each
// resync would add a copy of every event, and an idempotent reconcile would not be write-free.
//
// The Event's name is derived from a hash of (object uid, type, reason, message), so a second process
// (a new leader after failover) that records the same fact gets 409 AlreadyExists instead of a
// duplicate; that is counted as de-duplicated. Events expire server-side (--event-ttl, 1 h default).
import { createHash } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { fencedRequest, microTime, NotLeaderError, type Fence } from './leader-election.js';
import type { OperatorMetrics } from './metrics.js';
import { Events, resourcePath, type KubeObject } from './resource.js';
import { isConflict, type RestClient } from './rest.js';
import { REPORTING_CONTROLLER } from '../marks.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: RestClient;
  fence: Fence;
  /** reportingInstance: which process (the leader identity). */
  instance: string;
  /** Same event for the same object within this window is not re-emitted (default 10 min). */
  windowMs?: number;
  metrics?: OperatorMetrics;
  logger?: Logger;
  now?: () => number;
}

export interface RecordedEvent {
  type: EventType;
  /** UpperCamelCase, machine-readable: 'Attested', 'PlacementFailed'. */
  reason: string;
  /** What the controller did, UpperCamelCase: 'Verify', 'Bind'. */
  action: string;
  message: string;
}

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly options: EventRecorderOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = (options.logger ?? silentLogger()).child({ component: 'events' });
  }

  /**
   * Records an event about `regarding` unless the same one was recorded within the window.
   * Returns true if an Event was created. Failures other than the fence are logged, not thrown:
   * an event is a courtesy to humans and must not fail a reconcile.
   */
  async record(regarding: KubeObject, event: RecordedEvent): Promise<boolean> {
    const meta = regarding.metadata ?? {};
    if (!meta.name) throw new Error('event about an object without metadata.name');
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([regarding.kind, meta.namespace ?? '', meta.name, meta.uid ?? '', event.type, event.reason, event.message]))
      .digest('hex');
    const windowMs = this.options.windowMs ?? 600_000;
    const last = this.recent.get(fingerprint);
    const now = this.now();
    if (last !== undefined && now - last < windowMs) {
      this.options.metrics?.eventsSuppressed.inc();
      return false;
    }
    this.prune(now, windowMs);
    // Events of cluster-scoped objects go to 'default', as kubectl and client-go do.
    const namespace = meta.namespace ?? 'default';
    const body = {
      apiVersion: 'events.k8s.io/v1', kind: 'Event',
      metadata: { name: `${meta.name.slice(0, 200)}.${fingerprint.slice(0, 16)}`, namespace },
      eventTime: microTime(new Date()),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.options.instance.slice(0, 128),
      action: event.action,
      reason: event.reason,
      note: truncateUtf8(event.message, NOTE_MAX_BYTES),
      type: event.type,
      regarding: {
        apiVersion: regarding.apiVersion, kind: regarding.kind, name: meta.name, namespace: meta.namespace,
        uid: meta.uid, resourceVersion: meta.resourceVersion,
      },
    };
    try {
      await fencedRequest(this.options.client, this.options.fence, 'POST', resourcePath(Events, namespace), { body });
      this.recent.set(fingerprint, now);
      return true;
    } catch (err) {
      // The fence refused it, now or as it was about to leave: the caller must stop, as for any write.
      if (err instanceof NotLeaderError) throw err;
      if (isConflict(err)) {
        // Already recorded (by us before a restart, or by the previous leader).
        this.recent.set(fingerprint, now);
        this.options.metrics?.eventsSuppressed.inc();
        return false;
      }
      this.log.warn('could not record event', { reason: event.reason, object: meta.name, error: String(err) });
      return false;
    }
  }

  private prune(now: number, windowMs: number): void {
    if (this.recent.size < 10_000) return;
    for (const [k, t] of this.recent) if (now - t >= windowMs) this.recent.delete(k);
  }
}

/** The apiserver limits an Event's note to 1024 bytes (Go's len, so UTF-8 bytes, not characters). */
const NOTE_MAX_BYTES = 1024;

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never cutting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end);
}
