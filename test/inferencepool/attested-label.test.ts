// The routing label plan as a table: which replicas gain or lose chrysalis.dev/attested=true at a given
// time, from their gate, the expiry the attestation service recorded for them, and whether they carry it.
import test from 'ava';
import { planAttestedLabels, shouldCarryAttestedLabel } from '../../operator/src/controllers/inferencepool/attested-label.js';
import { planReplicas } from '../../operator/src/controllers/inferencepool/plan.js';
import type { ReplicaObservation } from '../../operator/src/controllers/inferencepool/plan.js';
import { NOW, pool, replica } from './builders.js';

const LEAD = 15_000;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

interface Row {
  title: string;
  observed: ReplicaObservation;
  add: boolean;
  remove: boolean;
}

const rows: Row[] = [
  { title: 'a verified replica with an hour left and no label gets it', observed: replica(0, { attestationExpires: at(3_600_000) }), add: true, remove: false },
  { title: 'a verified replica that has the label keeps it', observed: replica(0, { attestationExpires: at(3_600_000), attestedLabel: true }), add: false, remove: false },
  { title: 'a labelled replica within the lead time of its expiry loses it', observed: replica(0, { attestationExpires: at(LEAD - 1), attestedLabel: true }), add: false, remove: true },
  { title: 'an unlabelled replica within the lead time is not labelled', observed: replica(0, { attestationExpires: at(LEAD) }), add: false, remove: false },
  { title: 'a labelled replica whose expiry passed loses it', observed: replica(0, { attestationExpires: at(-1), attestedLabel: true }), add: false, remove: true },
  { title: 'a labelled replica whose gate is False (a rejected verdict) loses it', observed: replica(0, { gate: 'False', attestationExpires: at(3_600_000), attestedLabel: true }), add: false, remove: true },
  { title: 'a labelled replica with no recorded expiry (the key was revoked, or kwok set the gate) loses it', observed: replica(0, { attestationExpires: undefined, attestedLabel: true }), add: false, remove: true },
  { title: 'a gate True without a recorded expiry never gets the label', observed: replica(0, { attestationExpires: undefined }), add: false, remove: false },
  { title: 'an unbound replica is not labelled', observed: replica(0, { node: undefined, attestationExpires: at(3_600_000) }), add: false, remove: false },
  { title: 'a gate that is absent is not attestation', observed: replica(0, { gate: undefined, attestationExpires: at(3_600_000) }), add: false, remove: false },
];

for (const row of rows) {
  test(row.title, (t) => {
    const plan = planAttestedLabels([row.observed], NOW, LEAD);
    t.deepEqual(plan.adds, row.add ? [row.observed.name] : []);
    t.deepEqual(plan.removes, row.remove ? [row.observed.name] : []);
  });
}

test('the plan looks again when the earliest labelled replica is due to lose the label', (t) => {
  const plan = planAttestedLabels([
    replica(0, { attestationExpires: at(3_600_000), attestedLabel: true }),
    replica(1, { attestationExpires: at(600_000) }),
    replica(2, { gate: 'False' }),
  ], NOW, LEAD);
  t.is(plan.requeueAfterMs, 600_000 - LEAD);
  t.deepEqual(plan.adds, ['llama-1']);
});

test('nothing labelled and nothing due: no requeue', (t) => {
  t.is(planAttestedLabels([replica(0, { gate: 'False' })], NOW, LEAD).requeueAfterMs, undefined);
});

test('a replica whose gate planReplicas turns False is one the label plan removes the label from, at the same instant', (t) => {
  // The reconciler removes the label before it writes the gate flip; that order needs every flipped
  // replica that is labelled to be in the removals.
  const observed = [
    replica(0, { attestationExpires: at(-1), attestedLabel: true }),
    replica(1, { attestationExpires: undefined, gateSince: at(-3_600_000), attestedLabel: true }),
  ];
  const replicaPlan = planReplicas(pool('llama', 2), observed, () => 'ok', NOW, 1000);
  const labels = planAttestedLabels(replicaPlan.kept, NOW, LEAD);
  t.deepEqual(replicaPlan.gateFlips.map((f) => f.name).sort(), ['llama-0', 'llama-1']);
  t.deepEqual(labels.removes.sort(), ['llama-0', 'llama-1']);
});

test('after a lapse the label comes back only with a new recorded expiry', (t) => {
  const lapsed = replica(0, { gate: 'False', attestationExpires: at(-60_000) });
  t.false(shouldCarryAttestedLabel(lapsed, NOW, LEAD));
  // The service's fresh verdict: a new expiry recorded, then the gate True.
  t.false(shouldCarryAttestedLabel({ ...lapsed, attestationExpires: at(3_600_000) }, NOW, LEAD), 'the expiry alone, gate still False');
  t.false(shouldCarryAttestedLabel({ ...lapsed, gate: 'True' }, NOW, LEAD), 'the gate alone, with the old expiry');
  t.true(shouldCarryAttestedLabel({ ...lapsed, gate: 'True', attestationExpires: at(3_600_000) }, NOW, LEAD));
});

test('a terminating replica is never labelled', (t) => {
  t.false(shouldCarryAttestedLabel(replica(0, { terminating: true, attestationExpires: at(3_600_000) }), NOW, LEAD));
});
