// Every epoch's entitlement leaves, kept in the account's namespace so that anyone with read access (the
// CLI, a payee's own tooling) can rebuild a Merkle proof against the committed root.
//
// Layout: ConfigMap `<account>-leaves-e<epoch>` (hash-shortened when the name would be too long) with
//   binaryData["leaves.json.gz"]  gzip of saveEpochLeaves(epoch, leaves, price): the published JSON format
//                                  (units per payee, and what they earned at the account's price);
//   annotations                    chrysalis.dev/root, chrysalis.dev/total, chrysalis.dev/payees,
//                                  chrysalis.dev/parts;
//   labels                         chrysalis.dev/settlement-account, chrysalis.dev/epoch.
// Size: a leaf is ~80 bytes of JSON and gzip brings random hex keys to about half, so 10,000 payees are
// ~0.4 MB. Above PART_BYTES the gzip stream is split over `<name>-p1`, `<name>-p2`, ... (ConfigMaps are
// limited to 1 MiB each), so any fleet size fits.
//
// Written BEFORE the commit that uses them is recorded as pending, so a root can never reach the chain
// without its leaves being stored. An epoch number is reused only when its earlier commit expired
// unapplied; the leaves are then overwritten (the old root can never land). Leaves are kept for every
// epoch and carry no owner reference: they are the payees' evidence and outlive the account object.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KubeClient } from '../kube/kube-client.js';
import { ConfigMaps, type KubeObject } from '../kube/resource.js';
import { ANNOTATION_PARTS, ANNOTATION_PAYEES, ANNOTATION_ROOT, ANNOTATION_TOTAL, LABEL_EPOCH, LABEL_PART_OF, LABEL_SETTLEMENT_ACCOUNT, PART_OF_CHRYSALIS } from '../marks.js';
import { loadEpochLeaves, saveEpochLeaves, type Entitlements, type EpochLeaves } from './entitlements.js';

const DATA_KEY = 'leaves.json.gz';
export const PART_BYTES = 768 * 1024;

interface ConfigMapLike extends KubeObject {
  binaryData?: Record<string, string>;
}

function shortName(base: string, max: number): string {
  if (base.length <= max) return base;
  const h = createHash('sha256').update(base).digest('hex').slice(0, 10);
  return `${base.slice(0, max - 11)}-${h}`;
}

export function leavesConfigMapName(account: string, epoch: bigint, part = 0): string {
  const suffix = `-leaves-e${epoch}${part > 0 ? `-p${part}` : ''}`;
  return `${shortName(account, 253 - suffix.length)}${suffix}`;
}

/** Label values are limited to 63 characters. */
export function accountLabel(account: string): string {
  return shortName(account, 63);
}

export interface StoredEpoch extends EpochLeaves {
  entitlements: Entitlements;
}

/** Stores an epoch's leaves (idempotent: the same content is applied again). Returns the ConfigMap names. */
export async function saveLeaves(client: KubeClient, namespace: string, account: string, epoch: bigint, leaves: ReadonlyMap<bigint, bigint>, pricePerUnitNanoton?: bigint): Promise<string[]> {
  const json = saveEpochLeaves(epoch, leaves, pricePerUnitNanoton);
  const meta = JSON.parse(json) as { root: string; total: string };
  const gz = gzipSync(Buffer.from(json, 'utf8'), { level: 9 });
  const parts: Buffer[] = [];
  for (let off = 0; off < gz.length || parts.length === 0; off += PART_BYTES) parts.push(gz.subarray(off, off + PART_BYTES));
  const names: string[] = [];
  // Later parts first: the first ConfigMap (which says how many parts there are) is written last.
  for (let i = parts.length - 1; i >= 0; i--) {
    const name = leavesConfigMapName(account, epoch, i);
    names.unshift(name);
    await client.apply(ConfigMaps, {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: {
        name, namespace,
        labels: { [LABEL_SETTLEMENT_ACCOUNT]: accountLabel(account), [LABEL_EPOCH]: epoch.toString(), [LABEL_PART_OF]: PART_OF_CHRYSALIS },
        annotations: {
          [ANNOTATION_ROOT]: meta.root, [ANNOTATION_TOTAL]: meta.total, [ANNOTATION_PAYEES]: String(leaves.size),
          [ANNOTATION_PARTS]: String(parts.length),
        },
      },
      binaryData: { [DATA_KEY]: parts[i]!.toString('base64') },
    } as ConfigMapLike);
  }
  return names;
}

/**
 * Loads an epoch's leaves; undefined when none are stored. Throws when they are damaged (the leaves do
 * not hash to the recorded root) — a bad proof is never built from them.
 */
export async function loadLeaves(client: KubeClient, namespace: string, account: string, epoch: bigint): Promise<StoredEpoch | undefined> {
  const first = await client.get<ConfigMapLike>(ConfigMaps, leavesConfigMapName(account, epoch), namespace);
  if (!first) return undefined;
  const count = Number(first.metadata?.annotations?.[ANNOTATION_PARTS] ?? '1');
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const cm = i === 0 ? first : await client.get<ConfigMapLike>(ConfigMaps, leavesConfigMapName(account, epoch, i), namespace);
    const data = cm?.binaryData?.[DATA_KEY];
    if (!data) throw new Error(`leaves of ${namespace}/${account} epoch ${epoch}: part ${i} of ${count} is missing`);
    chunks.push(Buffer.from(data, 'base64'));
  }
  const loaded = loadEpochLeaves(gunzipSync(Buffer.concat(chunks)).toString('utf8'));
  if (loaded.epoch !== epoch) throw new Error(`leaves of ${namespace}/${account} epoch ${epoch}: the ConfigMap holds epoch ${loaded.epoch}`);
  return loaded;
}
