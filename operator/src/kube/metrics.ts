// The operator's Prometheus metrics, in a registry of their own (not prom-client's global one) so a
// test can run several managers in one process without "metric already registered" errors. One
// OperatorMetrics is shared by every part of a manager and served at /metrics by health.ts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly queueDepth = new Gauge({
    name: 'chrysalis_workqueue_depth', help: 'Keys waiting in the work queue (not counting delayed ones).',
    labelNames: ['queue'] as const, registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'chrysalis_workqueue_adds_total', help: 'Keys added to the work queue (after de-duplication).',
    labelNames: ['queue'] as const, registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: 'chrysalis_workqueue_retries_total', help: 'Keys re-queued with failure backoff.',
    labelNames: ['queue'] as const, registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'chrysalis_reconcile_duration_seconds', help: 'Time per reconcile.',
    labelNames: ['controller', 'result'] as const, registers: [this.registry],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  readonly reconcileErrors = new Counter({
    name: 'chrysalis_reconcile_errors_total', help: 'Reconciles that threw; kind is retryable or terminal.',
    labelNames: ['controller', 'kind'] as const, registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'chrysalis_watch_restarts_total',
    help: 'Watches re-established; reason: closed (server ended it), error, gone (410, relisted), silent (watchdog).',
    labelNames: ['resource', 'reason'] as const, registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'chrysalis_leader', help: '1 while this process holds the leader lease.',
    labelNames: ['lease'] as const, registers: [this.registry],
  });
  readonly fenceRejections = new Counter({
    name: 'chrysalis_fence_rejections_total', help: 'Writes refused because this process is not (or no longer) the leader.',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'chrysalis_kube_requests_total', help: 'Requests to the Kubernetes API by verb (LIST for a GET of a collection), resource (plural[/subresource]) and status code.',
    labelNames: ['verb', 'resource', 'code'] as const, registers: [this.registry],
  });
  readonly providerNodeFreshReads = new Counter({
    name: 'chrysalis_providernode_fresh_reads_total',
    help: 'ProviderNodes read from the apiserver, not the informer, before a status write, by why (provider-node-reads.ts FreshRead).',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly challengesOutstanding = new Gauge({
    name: 'chrysalis_challenges_outstanding', help: 'Node challenges issued and holding a slot (not yet answered; at most maxOutstandingChallenges, plus overdue re-attestations).',
    registers: [this.registry],
  });
  readonly challengesWaiting = new Gauge({
    name: 'chrysalis_challenges_waiting', help: 'Nodes due a challenge that wait for a free slot.',
    registers: [this.registry],
  });
  readonly challengesOverdue = new Counter({
    name: 'chrysalis_challenges_overdue_total',
    help: 'Re-attestation challenges issued beyond maxOutstandingChallenges because the node would otherwise have lapsed waiting for a slot (raise the bound when this grows).',
    registers: [this.registry],
  });
  readonly usageReportsDeferred = new Counter({
    name: 'chrysalis_usage_reports_deferred_total',
    help: 'Usage reports answered 429 because maxUsageReportsInFlight were being served (nothing is lost: the replica\'s next report carries the same cumulative counters). Growing steadily: the service replicas or the apiserver are short of capacity for metering.',
    registers: [this.registry],
  });
  readonly eventsSuppressed = new Counter({
    name: 'chrysalis_events_suppressed_total', help: 'Events not emitted because the same one was emitted within the window.',
    registers: [this.registry],
  });

  /** Process metrics (CPU, memory, event-loop lag); off by default so tests stay cheap. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }
}
