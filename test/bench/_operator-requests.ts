// The operator's own requests to the Kubernetes API, read from its /metrics (chrysalis_kube_requests_total
// by verb, resource and code): what a bench attributes to the operator, apart from the apiserver's other clients.
// (Files starting with `_` are not benchmarks: run.ts skips them.)

/** Verbs that change the cluster. */
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface OperatorRequests {
  /** `VERB resource` → requests of that verb to that resource, every answer counted. */
  byVerbAndResource: Map<string, number>;
  /** Requests answered 409 Conflict (a precondition or a create that lost a race). */
  conflicts: number;
  /** `VERB resource` → requests of that verb to that resource answered 409. */
  conflictsByVerbAndResource: Map<string, number>;
  /** `VERB resource` → requests of that verb to that resource that got no answer (timed out, connection failed). */
  unansweredByVerbAndResource: Map<string, number>;
  /** `resource reason` → watches re-established (chrysalis_watch_restarts_total): `gone` is a relist. */
  watchRestarts: Map<string, number>;
  /** The leader's node challenges: outstanding and waiting now (gauges), overdue ones issued beyond the bound (a counter). */
  challenges: { outstanding: number; waiting: number; overdue: number };
  /** Why → ProviderNodes read from the apiserver instead of the informer (chrysalis_providernode_fresh_reads_total). */
  freshReads: Map<string, number>;
  /** Usage reports the attestation service answered 429 at its in-flight bound (chrysalis_usage_reports_deferred_total). */
  usageDeferred: number;
}

/** Reads the operator's request counter from its metrics endpoint (http://127.0.0.1:<port>/metrics). */
export async function operatorRequests(metricsPort: number): Promise<OperatorRequests> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics of the operator: ${res.status}`);
  const byVerbAndResource = new Map<string, number>();
  let conflicts = 0;
  const conflictsByVerbAndResource = new Map<string, number>();
  const watchRestarts = new Map<string, number>();
  const unansweredByVerbAndResource = new Map<string, number>();
  const challenges = { outstanding: 0, waiting: 0, overdue: 0 };
  const freshReads = new Map<string, number>();
  let usageDeferred = 0;
  for (const line of (await res.text()).split('\n')) {
    const [name, value] = line.split(' ');
    if (name === 'chrysalis_challenges_outstanding') challenges.outstanding = Number(value);
    if (name === 'chrysalis_challenges_waiting') challenges.waiting = Number(value);
    if (name === 'chrysalis_challenges_overdue_total') challenges.overdue = Number(value);
    if (name === 'chrysalis_usage_reports_deferred_total') usageDeferred = Number(value);
    const isRequests = line.startsWith('chrysalis_kube_requests_total{');
    const isFreshReads = line.startsWith('chrysalis_providernode_fresh_reads_total{');
    if (!isRequests && !isFreshReads && !line.startsWith('chrysalis_watch_restarts_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (isFreshReads) {
      freshReads.set(labels.reason ?? '', count);
      continue;
    }
    if (!isRequests) {
      watchRestarts.set(`${labels.resource} ${labels.reason}`, count);
      continue;
    }
    const key = `${labels.verb} ${labels.resource}`;
    byVerbAndResource.set(key, (byVerbAndResource.get(key) ?? 0) + count);
    if (labels.code === '409') {
      conflicts += count;
      conflictsByVerbAndResource.set(key, (conflictsByVerbAndResource.get(key) ?? 0) + count);
    }
    if (labels.code === 'none') unansweredByVerbAndResource.set(key, (unansweredByVerbAndResource.get(key) ?? 0) + count);
  }
  return { byVerbAndResource, conflicts, conflictsByVerbAndResource, unansweredByVerbAndResource, watchRestarts, challenges, freshReads, usageDeferred };
}

/** The requests made between two reads of the counter (`before`, then `after`): what a window cost. */
export function requestsBetween(before: OperatorRequests, after: OperatorRequests): OperatorRequests {
  const minus = (a: Map<string, number>, b: Map<string, number>) => new Map([...a].map(([k, c]) => [k, c - (b.get(k) ?? 0)] as [string, number]).filter(([, c]) => c > 0));
  return {
    byVerbAndResource: minus(after.byVerbAndResource, before.byVerbAndResource),
    conflicts: after.conflicts - before.conflicts,
    conflictsByVerbAndResource: minus(after.conflictsByVerbAndResource, before.conflictsByVerbAndResource),
    unansweredByVerbAndResource: minus(after.unansweredByVerbAndResource, before.unansweredByVerbAndResource),
    watchRestarts: minus(after.watchRestarts, before.watchRestarts),
    challenges: { outstanding: after.challenges.outstanding, waiting: after.challenges.waiting, overdue: after.challenges.overdue - before.challenges.overdue },
    freshReads: minus(after.freshReads, before.freshReads),
    usageDeferred: after.usageDeferred - before.usageDeferred,
  };
}

/**
 * The write requests (POST, PUT, PATCH, DELETE) by `VERB resource`, most first. Reviews (TokenReview,
 * SubjectAccessReview) are POSTs the apiserver answers without storing anything: not writes.
 */
export function writesOf(requests: OperatorRequests): Array<[string, number]> {
  return [...requests.byVerbAndResource]
    .filter(([k]) => WRITE_VERBS.has(k.split(' ')[0]!) && !k.endsWith('reviews'))
    .sort((a, b) => b[1] - a[1]);
}

/**
 * The `n` busiest `VERB resource` pairs of a window as requests a second, e.g. "GET providernodes 12.5/s, …",
 * then every other LIST or unanswered request as a count, then the watches re-established in the window
 * by resource and reason (a relist is `gone`), the node challenges (outstanding and waiting at its
 * end, issued overdue within it), and the ProviderNodes read from the apiserver by why, if any.
 */
export function busiestPerSecond(window: OperatorRequests, seconds: number, n = 5): string {
  const busiest = [...window.byVerbAndResource].sort((a, b) => b[1] - a[1]).slice(0, n);
  if (busiest.length === 0) return 'none';
  const restarts = [...window.watchRestarts].map(([k, c]) => `${k} ${c}`).join(', ');
  const outcomes = (k: string) => {
    const notes = [[window.conflictsByVerbAndResource.get(k), 'answered 409'], [window.unansweredByVerbAndResource.get(k), 'not answered']]
      .filter(([n]) => n).map(([n, what]) => `${n} ${what}`);
    return notes.length ? ` (${notes.join(', ')})` : '';
  };
  // Named even when not among the busiest: LISTs (one costs the apiserver what thousands of GETs do; an
  // informer's relist is one) and requests that got no answer.
  const elsewhere = [...window.byVerbAndResource]
    .filter(([k]) => !busiest.some(([b]) => b === k) && (k.startsWith('LIST ') || window.unansweredByVerbAndResource.has(k)))
    .map(([k, c]) => `${k} ${c}${outcomes(k)}`);
  const { outstanding, waiting, overdue } = window.challenges;
  const freshReads = [...window.freshReads].sort((a, b) => b[1] - a[1]).map(([why, c]) => `${why} ${c}`).join(', ');
  return busiest.map(([k, c]) => `${k} ${Math.round((c / seconds) * 10) / 10}/s${outcomes(k)}`).concat(elsewhere).join(', ')
    + (restarts ? `; watches re-established: ${restarts}` : '')
    + (outstanding || waiting || overdue ? `; node challenges ${outstanding} outstanding, ${waiting} waiting for a slot, ${overdue} issued overdue` : '')
    + (freshReads ? `; ProviderNodes read from the apiserver, by why: ${freshReads}` : '');
}
