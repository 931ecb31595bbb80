// Finding (chaos bench, 2,000 nodes): under load the controllers' leader stepped down — "renew deadline
// passed before a renew succeeded" — and so did its successor. The Lease renewals went through the
// manager's one client, whose rate limiter serves requests in arrival order: a renewal queued behind the
// controllers' writes (a new leader resyncs every node) waited past the renew deadline. The Lease now
// has a client of its own. Against the real apiserver, with the shared client's limiter backed up by
// requests that take far longer to drain than the renew deadline.
import test from 'ava';
import { Manager } from '../../operator/src/kube/manager.js';
import { ConfigMaps, resourcePath } from '../../operator/src/kube/resource.js';
import { testCluster, useNamespace } from '../cluster/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a leader whose client is backed up with requests keeps renewing its Lease', async (t) => {
  const namespace = await useNamespace(t, 'lease-client');
  const manager = new Manager({
    kubeConfig: (await testCluster()).kubeConfig(),
    leaderElection: { namespace, name: 'lease-client', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250 },
    // Two requests a second: the 20 queued below take 10 s to go out, five renew deadlines.
    clientRateLimit: { qps: 2, burst: 1 },
    health: false,
  });
  const exited = manager.run();
  t.teardown(() => manager.stop());
  const deadline = Date.now() + 30_000;
  while (!manager.elector!.isLeader()) {
    if (Date.now() > deadline) return t.fail('never became leader');
    await sleep(50);
  }
  // The controllers' backlog: requests that wait in the shared client's line.
  const backlog = Array.from({ length: 20 }, () => manager.rest.request('GET', resourcePath(ConfigMaps, namespace)).catch(() => undefined));
  let lost = false;
  void exited.then(() => { lost = true; });
  await sleep(5000);
  t.false(lost, 'the manager exited (lost its Lease) while its client was backed up');
  t.notThrows(() => manager.elector!.assertLeader(), 'still the leader two and a half renew deadlines later');
  await manager.stop();
  await Promise.all(backlog);
});
