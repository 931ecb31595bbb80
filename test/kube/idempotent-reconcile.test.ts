// "Reconciling the same object twice changes nothing the second time (no write, no event)", on the
// real apiserver through the real pipeline (Manager → informer → controller → KubeClient/EventRecorder).
// The toy reconciler follows the project's pattern: a ConfigMap `src` is the input; it applies a
// Service (server-side apply), writes a Ready condition to the Service's status subresource, and
// records an Event. Services are used because they are built in and have a status subresource with
// standard conditions.
import test from 'ava';
import { testCluster, useNamespace } from '../cluster/index.js';
import { setCondition, type Condition } from '../../operator/src/kube/conditions.js';
import { Manager } from '../../operator/src/kube/manager.js';
import { ConfigMaps, Events, parseObjectKey, Services, type KubeObject } from '../../operator/src/kube/resource.js';
import { FIELD_MANAGER } from '../../operator/src/marks.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { configMap, directClient, until } from './informer-harness.js';

type Service = KubeObject & { status?: { conditions?: Condition[] } };
type Src = KubeObject & { data?: Record<string, string> };

test('reconciling an unchanged object again makes no write and records no event', async (t) => {
  const cluster = await testCluster();
  const ns = await useNamespace(t, 'idem');
  const direct = directClient(cluster.kubeConfig());
  await direct.apply(ConfigMaps, configMap(ns, 'src', { want: 'one' }));

  const manager = new Manager({ kubeConfig: cluster.kubeConfig(), leaderElection: false, health: { port: 0, host: '127.0.0.1' }, logger: silentLogger() });
  const sources = manager.informer<Src>(ConfigMaps, { namespace: ns, fieldSelector: 'metadata.name=src' });
  let reconciles = 0;
  const controller = manager.controller({
    name: 'toy',
    reconciler: {
      async reconcile(key) {
        const { namespace, name } = parseObjectKey(key);
        const src = sources.get(namespace, name);
        if (!src) return;
        const want = src.data?.want ?? '';
        const current = await manager.client.get<Service>(Services, `${name}-svc`, namespace);
        const { object: svc } = await manager.client.applyIfChanged<Service>(Services, current, {
          apiVersion: 'v1', kind: 'Service',
          metadata: { name: `${name}-svc`, namespace, annotations: { 'chrysalis.dev/want': want } },
          spec: { selector: { app: name }, ports: [{ port: 80 }] },
        });
        const conditions = setCondition(svc.status?.conditions, { type: 'Ready', status: 'True', reason: 'Reconciled', message: `want=${want}`, observedGeneration: svc.metadata?.generation }, new Date());
        await manager.client.applyStatusIfChanged(Services, svc, { ...svc.status, conditions });
        await manager.events.record(src, { type: 'Normal', reason: 'Reconciled', action: 'Reconcile', message: `want=${want}` });
        reconciles++;
      },
    },
  }).watch(sources);
  const running = manager.run();
  t.teardown(() => manager.stop());

  const writes = async () => {
    const m = await manager.metrics.apiRequests.get();
    return m.values.filter((v) => ['PATCH', 'POST', 'PUT', 'DELETE'].includes(String(v.labels.verb))).reduce((s, v) => s + v.value, 0);
  };
  const events = async () => (await direct.list(Events, { namespace: ns })).items.filter((e) => e.reportingController === 'chrysalis.dev/operator').length;
  const svcState = async () => {
    const s = await direct.get<Service>(Services, 'src-svc', ns);
    return { rv: s?.metadata?.resourceVersion, condition: s?.status?.conditions?.[0] };
  };

  await until('first reconcile', () => reconciles >= 1);
  const first = await svcState();
  t.is(first.condition?.status, 'True');
  t.is(first.condition?.message, 'want=one');
  t.true((await writes()) >= 3, 'the first reconcile wrote the Service, its status and an event');
  t.is(await events(), 1);
  t.true((await direct.get<Service>(Services, 'src-svc', ns))!.metadata!.managedFields!.some((f) => f.manager === FIELD_MANAGER && f.subresource === 'status'));

  // Second (and third) reconcile of the same, unchanged object.
  const writesBefore = await writes();
  controller.enqueue(`ConfigMap/${ns}/src`);
  await until('second reconcile', () => reconciles >= 2);
  controller.enqueue(`ConfigMap/${ns}/src`);
  await until('third reconcile', () => reconciles >= 3);
  t.is(await writes(), writesBefore, 'no write request at all');
  t.deepEqual(await svcState(), first, 'resourceVersion and condition (lastTransitionTime included) unchanged');
  t.is(await events(), 1, 'no second event');

  // The same measurement sees a real change: the check above could have failed.
  await direct.apply(ConfigMaps, configMap(ns, 'src', { want: 'two' }));
  await until('the change is reconciled', async () => (await svcState()).condition?.message === 'want=two');
  t.true((await writes()) > writesBefore);
  await until('a second event', async () => (await events()) === 2);
  const changed = await svcState();
  t.not(changed.rv, first.rv);
  t.is(changed.condition?.lastTransitionTime, first.condition?.lastTransitionTime, 'status stayed True, so the transition time is kept');

  const ready = await fetch(`http://127.0.0.1:${manager.healthPort}/readyz`);
  t.is(ready.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${manager.healthPort}/metrics`)).text();
  t.regex(metrics, /chrysalis_reconcile_duration_seconds_count\{controller="toy",result="success"\} \d+/);
  t.regex(metrics, /chrysalis_workqueue_depth\{queue="toy"\} 0/);
  await manager.stop();
  t.is(await running, 'stopped');
});
