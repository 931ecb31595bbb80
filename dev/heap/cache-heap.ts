// What the operator's informer caches hold per object: builds N Pods, Nodes and ProviderNodes shaped as
// the apiserver sends them (wire-objects.ts), each parsed from its own JSON text as off a watch, passes
// them through the transforms the Manager gives the informers (cached-shape.ts), keeps them in Maps as
// the Store does, and prints the V8 heap each kept object costs, after a full GC.
//
//   node --expose-gc --import tsx dev/heap/cache-heap.ts [--pods 20000] [--nodes 5000] [--ca]
//
// --ca: the replicas carry the attestation CA annotation, as under the chart (the bench's have none).
// Also prints the whole object's cost (untransformed): what a relist would hold of a list's objects, and
// what the operator's caches hold in all once the same objects fill the real Stores, their indexes and the
// FleetView (controllers/inferencepool/fleet-view.ts), as the InferencePool controller has them.
import type { ProviderNode } from '../../operator/src/api/index.js';
import { DEFAULT_CONFIG } from '../../operator/src/config.js';
import { FleetView } from '../../operator/src/controllers/inferencepool/fleet-view.js';
import { cachedShapeOf } from '../../operator/src/kube/cached-shape.js';
import { Store } from '../../operator/src/kube/store.js';
import { ProviderNodes } from '../../operator/src/kube/chrysalis-resources.js';
import { Nodes, Pods, type KubeObject, type ResourceType } from '../../operator/src/kube/resource.js';
import { kwokNodeJson, providerNodeJson, replicaPodJson } from './wire-objects.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc --import tsx\n');
  process.exit(2);
}
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const pods = arg('pods', 20_000);
const nodes = arg('nodes', 5_000);
const withCa = process.argv.includes('--ca');

function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

/** Bytes of heap per object kept, for `count` objects made by `json(i)` and cached through `transform`. */
function perObject(count: number, json: (i: number) => string, transform: ((o: KubeObject) => KubeObject) | undefined): { bytes: number; jsonBytes: number } {
  // The JSON texts are made first and dropped before the measurement ends, so only kept objects count.
  let texts: string[] | undefined = Array.from({ length: count }, (_, i) => json(i));
  const jsonBytes = texts.reduce((s, t) => s + t.length, 0) / count;
  const before = heapUsed() - texts.reduce((s, t) => s + t.length + 16, 0);
  const kept = new Map<string, KubeObject>();
  for (let i = 0; i < count; i++) {
    const obj = JSON.parse(texts[i] as string) as KubeObject;
    const cached = transform ? transform(obj) : obj;
    kept.set(`${cached.metadata?.namespace ?? ''}/${cached.metadata?.name}`, cached);
  }
  texts = undefined;
  const after = heapUsed();
  if (kept.size !== count) throw new Error('names collided');
  return { bytes: (after - before) / count, jsonBytes };
}

function row(label: string, count: number, json: (i: number) => string, resource: ResourceType): void {
  const whole = perObject(count, json, undefined);
  const cached = perObject(count, json, cachedShapeOf(resource));
  const fmt = (b: number) => `${Math.round(b).toString().padStart(6)} B`;
  process.stdout.write(`${label.padEnd(13)} ×${String(count).padStart(6)}: JSON ${fmt(whole.jsonBytes)}  whole ${fmt(whole.bytes)}  cached ${fmt(cached.bytes)}  → ${(cached.bytes * count / 2 ** 20).toFixed(1)} MB cached\n`);
}

row('Pod', pods, (i) => replicaPodJson(i, { withCa }), Pods);
row('Node', nodes, kwokNodeJson, Nodes);
row('ProviderNode', nodes, providerNodeJson, ProviderNodes);

// The same objects in the real Stores, with the indexes and the FleetView the InferencePool controller adds.
// Each object's JSON is made as it is put (no array of texts outlives the loop in some frame's register).
function fill<T extends KubeObject>(store: Store<T>, count: number, json: (i: number) => string): void {
  for (let i = 0; i < count; i++) store.put(JSON.parse(json(i)) as T);
}
{
  const before = heapUsed();
  const stores = {
    pods: new Store<KubeObject>({ transform: cachedShapeOf(Pods) }),
    nodes: new Store<KubeObject>({ transform: cachedShapeOf(Nodes) }),
    providerNodes: new Store<ProviderNode & KubeObject>({ transform: cachedShapeOf(ProviderNodes) }),
  };
  const view = new FleetView({ gpuResourceName: DEFAULT_CONFIG.gpuResourceName }).attach(stores.providerNodes, stores.nodes, stores.pods);
  fill(stores.nodes, nodes, kwokNodeJson);
  fill(stores.providerNodes, nodes, providerNodeJson);
  fill(stores.pods, pods, (i) => replicaPodJson(i, { withCa }));
  const mb = (heapUsed() - before) / 2 ** 20;
  process.stdout.write(`Stores + indexes + FleetView: ${mb.toFixed(1)} MB for ${pods} Pods, ${nodes} Nodes and ProviderNodes (${view.index.node('kwok-gpu-00000')?.gpuFree ?? 'no'} GPUs free on the first node)\n`);
}
