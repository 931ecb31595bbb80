// How the operator writes to Nodes it does not own, on the real apiserver: the taint list changes by a
// merge patch conditioned on the resourceVersion (a stale view fails with 409, nothing is overwritten),
// and neither that patch nor a server-side apply carrying the Node's uid can re-create a Node that was
// deleted after the cache saw it (apply alone is an upsert).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { KubeClient } from '../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../operator/src/kube/leader-election.js';
import { Nodes, type KubeObject } from '../../operator/src/kube/resource.js';
import { isConflict, isNotFound, RestClient } from '../../operator/src/kube/rest.js';
import { testCluster } from '../cluster/index.js';

interface NodeObject extends KubeObject { spec?: { taints?: Array<{ key: string; value?: string; effect: string }> } }

test('a taint patch from a stale view conflicts, from the current one replaces the list, and a deleted Node is never re-created', async (t) => {
  const cluster = await testCluster();
  const rest = new RestClient(cluster.kubeConfig());
  const client = new KubeClient(rest, NO_FENCE);
  const name = `node-writes-${randomBytes(3).toString('hex')}`;
  t.teardown(async () => {
    await client.delete(Nodes, name).catch(() => undefined);
    rest.close();
  });
  const created = await client.create<NodeObject>(Nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { taints: [{ key: 'other/owner', effect: 'NoSchedule' }] } } as NodeObject);
  const staleVersion = created.metadata!.resourceVersion;
  // Someone else changes the Node after our cache read it.
  await client.patchMerge(Nodes, name, undefined, { metadata: { labels: { touched: 'yes' } } });

  const stale = await t.throwsAsync(client.patchMerge(Nodes, name, undefined, { metadata: { resourceVersion: staleVersion }, spec: { taints: [] } }));
  t.true(isConflict(stale), String(stale));
  const after = await client.get<NodeObject>(Nodes, name);
  t.true(after!.spec?.taints?.some((x) => x.key === 'other/owner'), 'the stale patch removed nothing');

  // From the current view the patch goes through (the node lifecycle controller also taints this
  // kubelet-less Node meanwhile: then the patch conflicts and is redone from a fresh read, as the
  // reconciler's retry does). Every taint of the view it was planned from survives.
  let patched: NodeObject | undefined;
  let planned: NodeObject | undefined;
  for (let attempt = 0; attempt < 10 && !patched; attempt++) {
    planned = await client.get<NodeObject>(Nodes, name);
    const next = [...(planned!.spec?.taints ?? []), { key: 'chrysalis.dev/unattested', value: 'true', effect: 'NoSchedule' }];
    patched = await client.patchMerge<NodeObject>(Nodes, name, undefined, { metadata: { resourceVersion: planned!.metadata!.resourceVersion }, spec: { taints: next } })
      .catch((err) => { if (isConflict(err)) return undefined; throw err; });
  }
  t.truthy(patched, 'the patch from a current view went through');
  t.deepEqual(patched!.spec?.taints?.map((x) => x.key), [...(planned!.spec?.taints ?? []).map((x) => x.key), 'chrysalis.dev/unattested']);
  t.true(patched!.spec?.taints?.some((x) => x.key === 'other/owner'));

  const uid = patched!.metadata!.uid;
  await client.delete(Nodes, name);
  const applied = await t.throwsAsync(client.apply(Nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name, uid, labels: { x: 'y' } } } as KubeObject));
  t.true(isConflict(applied), `apply with the old uid: ${String(applied)}`);
  const merged = await t.throwsAsync(client.patchMerge(Nodes, name, undefined, { metadata: { resourceVersion: patched!.metadata!.resourceVersion }, spec: { taints: [] } }));
  t.true(isNotFound(merged), String(merged));
  t.is(await client.get(Nodes, name), undefined, 'the Node stays deleted');
});

test('one apply carrying labels and the whole taint list: from a stale view it conflicts, from the current one it keeps the others\' taints', async (t) => {
  const cluster = await testCluster();
  const rest = new RestClient(cluster.kubeConfig());
  const client = new KubeClient(rest, NO_FENCE);
  const name = `node-apply-${randomBytes(3).toString('hex')}`;
  t.teardown(async () => {
    await client.delete(Nodes, name).catch(() => undefined);
    rest.close();
  });
  const created = await client.create<NodeObject>(Nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { taints: [{ key: 'other/owner', effect: 'NoSchedule' }, { key: 'chrysalis.dev/unattested', value: 'true', effect: 'NoSchedule' }] } } as NodeObject);
  const marks = (view: NodeObject, untaint: boolean) => ({
    apiVersion: 'v1', kind: 'Node', metadata: { name, uid: view.metadata!.uid, labels: { 'chrysalis.dev/attested': 'true' } },
    spec: { taints: (view.spec?.taints ?? []).filter((x) => !untaint || x.key !== 'chrysalis.dev/unattested') },
  } as KubeObject);
  // Someone else adds a taint after our cache read the Node (from its own fresh read: the node lifecycle
  // controller may write this kubelet-less Node too).
  for (let added = false, attempt = 0; !added && attempt < 10; attempt++) {
    const fresh = (await client.get<NodeObject>(Nodes, name))!;
    added = await client.patchMerge(Nodes, name, undefined, { metadata: { resourceVersion: fresh.metadata!.resourceVersion }, spec: { taints: [...(fresh.spec?.taints ?? []), { key: 'added/later', effect: 'NoSchedule' }] } })
      .then(() => true, (err) => { if (isConflict(err)) return false; throw err; });
  }

  const stale = await t.throwsAsync(client.apply(Nodes, marks(created, true), { resourceVersion: created.metadata!.resourceVersion }));
  t.true(isConflict(stale), String(stale));
  const after = await client.get<NodeObject>(Nodes, name);
  const afterKeys = after!.spec?.taints?.map((x) => x.key) ?? [];
  t.true(['other/owner', 'chrysalis.dev/unattested', 'added/later'].every((k) => afterKeys.includes(k)), `the stale apply changed nothing: ${afterKeys.join(', ')}`);
  t.is(after!.metadata?.labels?.['chrysalis.dev/attested'], undefined);

  // From the current view (retried as the reconciler's requeue does, should the node lifecycle
  // controller write the kubelet-less Node meanwhile) the apply lifts only the unattested taint.
  let applied: NodeObject | undefined;
  for (let attempt = 0; attempt < 10 && !applied; attempt++) {
    const view = (await client.get<NodeObject>(Nodes, name))!;
    applied = await client.apply<NodeObject>(Nodes, marks(view, true) as NodeObject, { resourceVersion: view.metadata!.resourceVersion })
      .catch((err) => { if (isConflict(err)) return undefined; throw err; });
  }
  t.truthy(applied, 'the apply from a current view went through');
  const keys = applied!.spec?.taints?.map((x) => x.key) ?? [];
  t.true(keys.includes('other/owner') && keys.includes('added/later'), `others' taints kept: ${keys.join(', ')}`);
  t.false(keys.includes('chrysalis.dev/unattested'));
  t.is(applied!.metadata?.labels?.['chrysalis.dev/attested'], 'true');
});
