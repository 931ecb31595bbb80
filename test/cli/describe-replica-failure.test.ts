// describe pnode's "Replica failure" line: a failure newer than the host's verification still brings the
// re-check forward; an older one was answered by that verification; none, no line.
import test from 'ava';
import type { ProviderNode } from '../../operator/src/api/index.js';
import { replicaFailureOf } from '../../cli/src/commands/describe.js';

const NOW = new Date('2026-12-06T12:00:00Z');
const node = (verifiedAt: string | undefined, failureAt?: string) => ({
  metadata: { name: 'gpu-1' }, spec: { nodeName: 'gpu-1' },
  status: { attestation: { ...(verifiedAt ? { verifiedAt } : {}), ...(failureAt ? { replicaFailure: { pod: 'ns/llm-0', code: 'GPU_CC_DISABLED', at: failureAt } } : {}) } },
}) as unknown as ProviderNode;

test('newer than the verification: the host is being re-checked', (t) => {
  t.is(replicaFailureOf(node('2026-12-06T11:58:00Z', '2026-12-06T11:59:30Z'), NOW), "GPU_CC_DISABLED in replica ns/llm-0's evidence (30s ago): the host is re-checked ahead of its schedule");
});

test('older than the verification: answered by it', (t) => {
  t.is(replicaFailureOf(node('2026-12-06T11:59:50Z', '2026-12-06T11:59:30Z'), NOW), "GPU_CC_DISABLED in replica ns/llm-0's evidence (30s ago): answered by the host's verification since");
});

test('no failure recorded: no line', (t) => {
  t.is(replicaFailureOf(node('2026-12-06T11:59:50Z'), NOW), undefined);
});
