import test from 'ava';
import { readFile } from 'node:fs/promises';
import { counterTotal, parsePrometheusText } from '../../attester/src/usage/prometheus.js';
import { AttesterError } from '../../attester/src/errors.js';

const fixture = await readFile(new URL('./fixtures/vllm-metrics.txt', import.meta.url), 'utf8');

test('vLLM token counters are read from a Prometheus text fixture', (t) => {
  const parsed = parsePrometheusText(fixture);
  t.is(counterTotal(parsed, 'vllm:prompt_tokens_total'), 152340);
  t.is(counterTotal(parsed, 'vllm:generation_tokens_total'), 48211);
});

test('a counter with several label sets is summed', (t) => {
  t.is(counterTotal(parsePrometheusText(fixture), 'vllm:request_success_total'), 429);
});

test('label escapes, a trailing comma, exponents and timestamps are understood', (t) => {
  const sample = parsePrometheusText(fixture).samples.find((s) => s.name === 'weird_label_metric');
  t.deepEqual(sample, { name: 'weird_label_metric', labels: { path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb' }, value: 1500 });
});

test('a counter the server has not registered yet counts as zero', (t) => {
  t.is(counterTotal(parsePrometheusText(fixture), 'vllm:not_there_total'), 0);
});

test('a gauge is not accepted where a counter is expected', (t) => {
  const err = t.throws(() => counterTotal(parsePrometheusText(fixture), 'vllm:num_requests_running'), { instanceOf: AttesterError });
  t.is(err?.code, 'METRICS_UNAVAILABLE');
});

for (const [what, text] of [
  ['a value that is not a number', 'vllm:prompt_tokens_total 12abc'],
  ['an unterminated label value', 'vllm:prompt_tokens_total{model_name="x} 1'],
  ['an unknown escape', 'm{a="\\t"} 1'],
  ['a duplicated label', 'm{a="1",a="2"} 1'],
  ['a line that is not a sample', '{a="1"} 1'],
  ['extra fields after the timestamp', 'm 1 2 3'],
  ['a malformed TYPE line', '# TYPE m countr'],
] as const) {
  test(`the parser refuses ${what} instead of skipping it`, (t) => {
    const err = t.throws(() => parsePrometheusText(`# HELP m ok\n${text}\n`), { instanceOf: AttesterError });
    t.is(err?.code, 'METRICS_UNAVAILABLE');
    t.regex(err?.message ?? '', /^metrics line 2: /);
  });
}

test('a negative or NaN counter fails the scrape', (t) => {
  t.throws(() => counterTotal(parsePrometheusText('c_total -1\n'), 'c_total'), { instanceOf: AttesterError });
  t.throws(() => counterTotal(parsePrometheusText('c_total NaN\n'), 'c_total'), { instanceOf: AttesterError });
});
