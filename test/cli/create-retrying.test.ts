// The demo's setup writes against an apiserver that answers like one still starting: 429 and 503 are
// retried, AlreadyExists after a retry is success, a 422 fails at once, and a server that keeps
// refusing makes the create fail when the retry window ends.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createRetryingTransient } from '../../cli/src/create-retrying.js';
import { KubeApiError, RestClient } from '../../operator/src/kube/rest.js';

/** A local HTTP "apiserver" that answers the n-th POST with answers[n] (the last one repeats). */
async function scriptedServer(answers: Array<[number, string]>) {
  let posts = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [code, reason] = answers[Math.min(posts, answers.length - 1)]!;
      posts++;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(code < 300 ? { kind: 'Namespace' } : { kind: 'Status', status: 'Failure', reason, message: `scripted ${reason}`, code }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'scripted', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'scripted', cluster: 'scripted', user: 'nobody' }],
    currentContext: 'scripted',
  });
  const rest = new RestClient(kc);
  return { rest, posts: () => posts, close: () => { rest.close(); server.close(); } };
}

const body = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } };
const fast = { delayMs: 5, giveUpAfterMs: 2_000 };

test('429 and 503 are retried until the create lands', async (t) => {
  const s = await scriptedServer([[429, 'TooManyRequests'], [503, 'ServiceUnavailable'], [201, '']]);
  t.teardown(s.close);
  await createRetryingTransient(s.rest, '/api/v1/namespaces', body, fast);
  t.is(s.posts(), 3);
});

test('AlreadyExists after a retry counts as created', async (t) => {
  const s = await scriptedServer([[500, 'InternalError'], [409, 'AlreadyExists']]);
  t.teardown(s.close);
  await createRetryingTransient(s.rest, '/api/v1/namespaces', body, fast);
  t.is(s.posts(), 2);
});

test('a 422 (the object is wrong) fails at once, and a 409 Conflict is not taken for AlreadyExists', async (t) => {
  const invalid = await scriptedServer([[422, 'Invalid'], [201, '']]);
  t.teardown(invalid.close);
  const err = await t.throwsAsync(createRetryingTransient(invalid.rest, '/api/v1/namespaces', body, fast), { instanceOf: KubeApiError });
  t.is(err?.code, 422);
  t.is(invalid.posts(), 1);

  const conflict = await scriptedServer([[409, 'Conflict'], [201, '']]);
  t.teardown(conflict.close);
  await t.throwsAsync(createRetryingTransient(conflict.rest, '/api/v1/namespaces', body, fast), { message: /409 Conflict/ });
  t.is(conflict.posts(), 1);
});

test('a server that keeps answering 503 fails the create once the retry window ends', async (t) => {
  const s = await scriptedServer([[503, 'ServiceUnavailable']]);
  t.teardown(s.close);
  const started = Date.now();
  await t.throwsAsync(createRetryingTransient(s.rest, '/api/v1/namespaces', body, { delayMs: 20, giveUpAfterMs: 300 }), { message: /503 ServiceUnavailable/ });
  t.true(Date.now() - started >= 300);
  // Retried, not given up at the first 503; how many tries fit in the window depends on the machine.
  t.true(s.posts() >= 2);
});

test('a refused connection is retried, and its error surfaces when the window ends', async (t) => {
  const s = await scriptedServer([[201, '']]);
  s.close(); // nothing listens on the port any more
  const started = Date.now();
  await t.throwsAsync(createRetryingTransient(s.rest, '/api/v1/namespaces', body, { delayMs: 20, giveUpAfterMs: 200 }), { message: /ECONNREFUSED/ });
  t.true(Date.now() - started >= 200, 'retried until the window ended, not failed on the first refusal');
});
