// Finding: the operator's numeric flags were parsed with parseInt/parseFloat and never checked, so
// `--qps fifty` ran with a NaN rate limit and `--metrics-port 8o80` listened on 8. Each is now refused
// with the flag and its range named, before anything starts.
import test from 'ava';
import { operatorProgram } from '../../operator/src/main.js';

function parse(args: string[]): Record<string, unknown> {
  const program = operatorProgram().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  return program.parse(args, { from: 'user' }).opts();
}

test('the defaults and well-formed values parse', (t) => {
  t.like(parse([]), { qps: 50, burst: 100, metricsPort: 8080, attestationPort: 8443 });
  t.like(parse(['--qps', '200', '--burst', '400', '--metrics-port', '0', '--attestation-port', '0']), { qps: 200, burst: 400, metricsPort: 0, attestationPort: 0 });
  t.like(parse(['--qps', '0.5']), { qps: 0.5 });
});

test('a malformed or out-of-range number is refused, naming the flag and its range', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--qps', 'fifty'], /--qps must be a number from 0\.1 to 100000 \(got "fifty"\)/],
    [['--qps', '0'], /--qps must be a number from 0\.1/],
    [['--burst', '1.5'], /--burst must be a whole number from 1 to 100000/],
    [['--burst', ''], /--burst must be a whole number/],
    [['--metrics-port', '8o80'], /--metrics-port must be a whole number from 0 to 65535 \(got "8o80"\)/],
    [['--attestation-port', '70000'], /--attestation-port must be a whole number from 0 to 65535/],
  ];
  for (const [args, message] of cases) t.throws(() => parse(args), { message }, args.join(' '));
});
