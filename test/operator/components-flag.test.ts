// `chrysalis-operator --components`: what one process runs. The chart runs the controllers and the
// attestation service apart; a typo must stop the process instead of silently running something else.
import test from 'ava';
import { LEASE_NAMES, OPERATOR_COMPONENTS, operatorProgram, parseComponents } from '../../operator/src/main.js';

test('without --components a process runs both the controllers and the attestation service', (t) => {
  const flags = operatorProgram().parse([], { from: 'user' }).opts<{ components: string[] }>();
  t.deepEqual(flags.components, ['controllers', 'attestation-service']);
});

test('--components takes one part or both, comma-separated, each once', (t) => {
  t.deepEqual(parseComponents('controllers'), ['controllers']);
  t.deepEqual(parseComponents('attestation-service'), ['attestation-service']);
  t.deepEqual(parseComponents('attestation-service, controllers,controllers'), ['attestation-service', 'controllers']);
});

test('a misspelt or empty --components is refused with the flag and the known parts named', (t) => {
  t.throws(() => parseComponents('controller'), { message: /--components: unknown "controller"; use a comma-separated list of controllers, attestation-service/ });
  t.throws(() => parseComponents(' , '), { message: /--components: empty/ });
});

test('the controllers and the attestation service lead through different Leases', (t) => {
  t.is(new Set(OPERATOR_COMPONENTS.map((c) => LEASE_NAMES[c])).size, OPERATOR_COMPONENTS.length);
  t.is(LEASE_NAMES.controllers, 'chrysalis-operator', 'the controllers keep the Lease earlier versions held');
});
