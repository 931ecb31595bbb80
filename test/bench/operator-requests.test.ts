// The chaos bench's once-a-minute line of what each operator process asked of the apiserver: it must name
// a relist (LIST) and a request that got no answer even when they are rare, since one of either at fleet
// scale is what loads the apiserver or leaves a cache behind.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { busiestPerSecond, operatorRequests, requestsBetween } from './_operator-requests.js';

function metricsText(counts: { patch: number; conflicts: number; lists: number; unanswered: number; relists: number }): string {
  return [
    '# HELP chrysalis_kube_requests_total Requests to the Kubernetes API',
    `chrysalis_kube_requests_total{verb="PATCH",resource="providernodes/status",code="200"} ${counts.patch}`,
    `chrysalis_kube_requests_total{verb="PATCH",resource="providernodes/status",code="409"} ${counts.conflicts}`,
    `chrysalis_kube_requests_total{verb="GET",resource="pods",code="200"} ${counts.patch * 2}`,
    `chrysalis_kube_requests_total{verb="LIST",resource="providernodes",code="200"} ${counts.lists}`,
    `chrysalis_kube_requests_total{verb="LIST",resource="providernodes",code="none"} ${counts.unanswered}`,
    `chrysalis_watch_restarts_total{resource="providernodes",reason="gone"} ${counts.relists}`,
    `chrysalis_challenges_outstanding ${counts.relists * 48}`,
    `chrysalis_challenges_waiting ${counts.relists * 100}`,
    `chrysalis_challenges_overdue_total ${counts.relists * 5}`,
    `chrysalis_providernode_fresh_reads_total{reason="node-evidence-not-shown"} ${counts.relists * 7}`,
    `chrysalis_providernode_fresh_reads_total{reason="usage-refusal"} ${counts.relists * 3}`,
  ].join('\n');
}

test('a window names its busiest requests a second, then every LIST and unanswered request, relists, node challenges and ProviderNode reads by why', async (t) => {
  let body = metricsText({ patch: 100, conflicts: 5, lists: 1, unanswered: 0, relists: 0 });
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const before = await operatorRequests(port);
  body = metricsText({ patch: 160, conflicts: 8, lists: 2, unanswered: 3, relists: 2 });
  const after = await operatorRequests(port);
  const line = busiestPerSecond(requestsBetween(before, after), 60, 2);
  t.is(line, 'GET pods 2/s, PATCH providernodes/status 1.1/s (3 answered 409), LIST providernodes 4 (3 not answered); watches re-established: providernodes gone 2; node challenges 96 outstanding, 200 waiting for a slot, 10 issued overdue; ProviderNodes read from the apiserver, by why: node-evidence-not-shown 14, usage-refusal 6');

  // Nothing rare happened: only the busiest.
  t.is(busiestPerSecond(requestsBetween(after, after), 60), 'none');
});
