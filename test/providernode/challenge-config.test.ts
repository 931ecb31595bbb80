import test from 'ava';
import { ConfigError, DEFAULT_CONFIG, parseOperatorConfig } from '../../operator/src/config.js';

test('maxOutstandingChallenges defaults to 128, accepts 0 (no bound), and refuses values that would stall admission, naming the field', (t) => {
  t.is(DEFAULT_CONFIG.maxOutstandingChallenges, 128);
  t.is(parseOperatorConfig('maxOutstandingChallenges: 0').maxOutstandingChallenges, 0);
  t.is(parseOperatorConfig('maxOutstandingChallenges: 64').maxOutstandingChallenges, 64);
  for (const bad of ['1', '3', '-1', '2.5', '"256"', '100001']) {
    const err = t.throws(() => parseOperatorConfig(`maxOutstandingChallenges: ${bad}`, 'config.yaml'), { instanceOf: ConfigError });
    t.regex(err!.message, /^config\.yaml: maxOutstandingChallenges must be 0 \(no bound\) or an integer between 4 and 100000/);
  }
});
