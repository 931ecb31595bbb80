// parsePolicy (which also reads the CLI's policy files) and the AttestationPolicy CRD (which the apiserver
// enforces on resources) accept the same TDX TCB statuses: the two lists cannot drift apart unnoticed.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_ACCEPTED_TCB_STATUSES, parsePolicy } from '../../operator/src/attestation/policy.js';
import { REPO_ROOT } from './vectors.js';

interface Schema { properties?: Record<string, Schema>; items?: Schema; enum?: string[]; minimum?: number; maximum?: number }

const crd = parse(readFileSync(join(REPO_ROOT, 'crds/chrysalis.dev_attestationpolicies.yaml'), 'utf8')) as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;

test('the TCB statuses parsePolicy accepts are the CRD\'s enum', (t) => {
  t.deepEqual([...DEFAULT_ACCEPTED_TCB_STATUSES], spec.properties!.tdx!.properties!.acceptedTcbStatuses!.items!.enum);
});

test('the operational fields\' bounds are the CRD\'s', (t) => {
  for (const field of ['reattestIntervalSeconds', 'quarantineGraceSeconds']) {
    const { minimum, maximum } = spec.properties![field]!;
    t.notThrows(() => parsePolicy({ [field]: minimum }), field);
    t.notThrows(() => parsePolicy({ [field]: maximum }), field);
    t.throws(() => parsePolicy({ [field]: minimum! - 1 }), { message: new RegExp(`policy field ${field}`) });
    t.throws(() => parsePolicy({ [field]: maximum! + 1 }), { message: new RegExp(`policy field ${field}`) });
  }
});
